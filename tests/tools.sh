#!/usr/bin/env bash
# What the app tests need beside Python (README's test command runs this first):
#   chromium               the web demo's headless-browser test (Playwright drives it; no download)
#   junit4, org.json       the Android demo's pure-JVM core, compiled and tested with javac/java
#   web_demo/node_modules  onnxruntime-web, from web_demo/package-lock.json (npm ci)
#   swift                  a Debian trixie chroot with swiftlang 6.0.3, for the iOS core's XCTests
#                          (bookworm has no Swift); about 3 min and 530 MB the first time
#   kotlin                 kotlinc (npm kotlin-compiler), android.jar API 23 (bullseye's
#                          android-sdk-platform-23) and ExecuTorch's Java classes.jar (npm
#                          react-native-executorch): the Android app compiled, its Kotlin on JUnit
#   native                 cmake and g++ for the native ExecuTorch runner (native/), which its
#                          tests build against the pinned executorch wheel
# Installs with apt-get when run as root on Debian/Ubuntu; elsewhere it says what is missing and
# the tests that need it skip with that reason. Downloaded tools are cached in
# $SKINEDGE_TOOLS (default ~/.cache/skinedge-tools) and reused; each is marked ready only once
# it is complete, so an interrupted set-up is redone, never used half-made.
#   bash tests/tools.sh                  everything
#   bash tests/tools.sh swift kotlin     only these parts (apt, web, swift, kotlin, native)
set -uo pipefail
cd "$(dirname "$0")/.."
TOOLS=${SKINEDGE_TOOLS:-$HOME/.cache/skinedge-tools}
READY=.skinedge-ready   # written last, inside each finished tool folder
parts=("$@")
[ ${#parts[@]} -gt 0 ] || parts=(apt web swift kotlin native)

say() { echo "tests/tools.sh: $*"; }
is_root_debian() { [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null && [ -f /etc/debian_version ]; }

apt_install() {  # apt_install PACKAGE...: quietly, with one apt-get update if the first try fails
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$@" >/dev/null 2>&1 ||
        { apt-get update -q >/dev/null 2>&1 &&
          DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$@" >/dev/null 2>&1; }
}

install_or_say() {  # install_or_say WHO PACKAGE...: install them as root on Debian, else say WHO skips
    local who=$1; shift
    [ $# -gt 0 ] || return 0
    if is_root_debian; then
        say "installing $*"
        apt_install "$@" || say "could not install $*; $who will skip"
    else
        say "missing $* (install them; $who skip)"
    fi
}
fail_note() {  # fail_note TOOL LINE: say it and keep the line where the tests read their skip reason
    mkdir -p "$TOOLS" && echo "$2" > "$TOOLS/$1.failed"
    say "$2"
}

part_apt() {
    local want=()
    command -v chromium >/dev/null || command -v chromium-browser >/dev/null || want+=(chromium)
    [ -f /usr/share/java/junit4.jar ] || want+=(junit4)
    [ -f /usr/share/java/com.android.json.jar ] || [ -f /usr/share/java/android-json.jar ] ||
        want+=(libandroid-json-java)
    command -v javac >/dev/null || want+=(openjdk-17-jdk-headless)
    command -v npm >/dev/null || want+=(nodejs npm)
    install_or_say "the tests that need them" "${want[@]}"
}

part_web() {
    if [ -f web_demo/package-lock.json ] && command -v npm >/dev/null; then
        (cd web_demo && npm ci --no-audit --no-fund --loglevel=error) ||
            say "npm ci failed in web_demo; the web demo tests will skip"
    fi
}

in_chroot() {  # in_chroot DIR COMMAND: run COMMAND in the chroot DIR with /proc and /dev, privately
    unshare --mount --fork sh -c "mount -t proc proc '$1/proc' && mount --bind /dev '$1/dev' &&
        chroot '$1' sh -c '$2'"
}

unmount_under() {  # leftovers of a killed debootstrap (it mounts /proc and /sys in the target)
    local m
    for m in $(awk -v d="$1" 'index($2, d) == 1 {print $2}' /proc/mounts | sort -r); do
        umount -l "$m" 2>/dev/null
    done
}

part_swift() {
    local dir="$TOOLS/swift-trixie" tmp="$TOOLS/swift-trixie.partial" log="$TOOLS/swift-trixie.log"
    [ -f "$dir/$READY" ] && return 0
    if ! is_root_debian; then
        say "the Swift chroot needs root on Debian (debootstrap, chroot); the Swift tests skip"
        return 0
    fi
    command -v debootstrap >/dev/null || apt_install debootstrap ||
        { fail_note swift-trixie "Swift chroot: could not install debootstrap"; return 0; }
    say "setting up the Swift chroot in $dir (Debian trixie + swiftlang; about 3 min, 530 MB)"
    mkdir -p "$TOOLS" && rm -f "$TOOLS/swift-trixie.failed"
    unmount_under "$tmp" && rm -rf "$tmp"
    if ! debootstrap --variant=minbase trixie "$tmp" http://deb.debian.org/debian >"$log" 2>&1; then
        fail_note swift-trixie "Swift chroot: debootstrap trixie failed (see $log: $(tail -n 1 "$log"))"
        unmount_under "$tmp"; rm -rf "$tmp"; return 0
    fi
    unmount_under "$tmp"
    if ! in_chroot "$tmp" "apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
            --no-install-recommends swiftlang libc6-dev libstdc++-14-dev && apt-get clean &&
            swift --version" >>"$log" 2>&1; then
        fail_note swift-trixie "Swift chroot: installing swiftlang in trixie failed (see $log: $(tail -n 1 "$log"))"
        rm -rf "$tmp"; return 0
    fi
    rm -rf "$dir" && mv "$tmp" "$dir" && touch "$dir/$READY" && say "Swift chroot ready: $dir"
}

# The Android app's compile (tests/test_android_app.py): kotlinc from npm; the API 23 android.jar
# from Debian bullseye's libandroid-23-java (android-sdk-platform-23's android.jar is a link to
# its jar), fetched with `apt-get download` under a private APT_CONFIG so that the machine's own
# sources stay as they are; ExecuTorch's Java API from the npm tarball of react-native-executorch;
# bookworm's aapt and framework-res (API 29) to make R.java.
KOTLIN_COMPILER=kotlin-compiler@2.4.20
EXECUTORCH_JAVA=react-native-executorch@0.9.3
BULLSEYE="deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian bullseye main"

bullseye_download() {  # bullseye_download DIR PACKAGE...: the .debs into DIR/debs
    local a="$1"; shift
    mkdir -p "$a/state/lists/partial" "$a/cache/archives/partial" "$a/etc/sources.list.d" \
        "$a/etc/preferences.d" "$a/etc/apt.conf.d" "$a/debs" && touch "$a/state/status" &&
        echo "$BULLSEYE" > "$a/etc/sources.list" || return 1
    printf '%s\n' "Dir::State \"$a/state\";" "Dir::State::status \"$a/state/status\";" \
        "Dir::Cache \"$a/cache\";" "Dir::Etc::SourceList \"$a/etc/sources.list\";" \
        "Dir::Etc::SourceParts \"$a/etc/sources.list.d\";" \
        "Dir::Etc::Preferences \"$a/etc/preferences\";" \
        "Dir::Etc::PreferencesParts \"$a/etc/preferences.d\";" \
        "Dir::Etc::Parts \"$a/etc/apt.conf.d\";" "APT::Architecture \"amd64\";" \
        "APT::Sandbox::User \"root\";" > "$a/apt.conf" || return 1
    APT_CONFIG="$a/apt.conf" apt-get -q update >"$a/log" 2>&1 &&
        (cd "$a/debs" && APT_CONFIG="$a/apt.conf" apt-get -q download "$@" >>"$a/log" 2>&1)
}

part_kotlin() {
    local dir="$TOOLS/android" tmp="$TOOLS/android.partial" log="$TOOLS/android.log" need=()
    [ -f "$dir/$READY" ] && return 0
    for tool in npm java apt-get dpkg-deb tar; do command -v $tool >/dev/null || need+=($tool); done
    if [ ${#need[@]} -gt 0 ]; then
        fail_note android "Android tools: ${need[*]} missing"; return 0
    fi
    if [ ! -x /usr/bin/aapt ] || [ ! -f /usr/share/android-framework-res/framework-res.apk ]; then
        { is_root_debian && apt_install aapt android-framework-res; } ||
            say "aapt and android-framework-res (bookworm) are missing: the app's R.java cannot be made"
    fi
    say "fetching the Android compile tools into $dir ($KOTLIN_COMPILER, bullseye's android.jar, $EXECUTORCH_JAVA)"
    mkdir -p "$TOOLS" && rm -f "$TOOLS/android.failed" && rm -rf "$tmp" && mkdir -p "$tmp/executorch-android" "$tmp/android-23"
    if ! npm install --prefix "$tmp" --no-save --no-audit --no-fund --ignore-scripts \
            --loglevel=error "$KOTLIN_COMPILER" >"$log" 2>&1; then
        fail_note android "Android tools: npm install $KOTLIN_COMPILER failed (see $log)"
        rm -rf "$tmp"; return 0
    fi
    if ! (cd "$tmp" && npm pack --silent "$EXECUTORCH_JAVA" >>"$log" 2>&1 &&
          tar -xzf react-native-executorch-*.tgz -C executorch-android --strip-components=3 \
              package/android/libs/classes.jar && rm -f react-native-executorch-*.tgz); then
        fail_note android "Android tools: android/libs/classes.jar from npm $EXECUTORCH_JAVA failed (see $log)"
        rm -rf "$tmp"; return 0
    fi
    if ! { bullseye_download "$tmp/apt" libandroid-23-java &&
           dpkg-deb -x "$tmp"/apt/debs/libandroid-23-java_*.deb "$tmp/deb" &&
           cp "$tmp/deb/usr/share/java/com.android.android-23.jar" "$tmp/android-23/android.jar"; }; then
        cp "$tmp/apt/log" "$TOOLS/android-apt.log" 2>/dev/null
        fail_note android "Android tools: android.jar from bullseye's libandroid-23-java failed (see $TOOLS/android-apt.log)"
        rm -rf "$tmp"; return 0
    fi
    rm -rf "$tmp/apt" "$tmp/deb"
    if ! "$tmp/node_modules/kotlin-compiler/bin/kotlinc" -version >>"$log" 2>&1; then
        fail_note android "Android tools: kotlinc does not run on this Java (see $log)"
        rm -rf "$tmp"; return 0
    fi
    rm -rf "$dir" && mv "$tmp" "$dir" && touch "$dir/$READY" && say "Android compile tools ready: $dir"
}

part_native() {
    local want=()
    command -v cmake >/dev/null || want+=(cmake)
    command -v g++ >/dev/null || want+=(g++)
    install_or_say "the native runner tests" "${want[@]}"
}

case " ${parts[*]} " in *" apt "*) part_apt ;; esac
case " ${parts[*]} " in *" web "*) part_web ;; esac
case " ${parts[*]} " in *" swift "*) part_swift ;; esac
case " ${parts[*]} " in *" kotlin "*) part_kotlin ;; esac
case " ${parts[*]} " in *" native "*) part_native ;; esac
exit 0
