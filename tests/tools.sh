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
#   native                 cmake, g++ and ninja for the native ExecuTorch runner (native/)
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
    command -v cmake >/dev/null || want+=(cmake)
    command -v g++ >/dev/null || want+=(g++)
    command -v ninja >/dev/null || want+=(ninja-build)
    command -v debootstrap >/dev/null || want+=(debootstrap)
    [ ${#want[@]} -gt 0 ] || return 0
    if is_root_debian; then
        say "installing ${want[*]}"
        apt_install "${want[@]}" || say "could not install ${want[*]}; the tests that need them will skip"
    else
        say "missing ${want[*]} (install them; the tests that need them skip)"
    fi
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

case " ${parts[*]} " in *" apt "*) part_apt ;; esac
case " ${parts[*]} " in *" web "*) part_web ;; esac
case " ${parts[*]} " in *" swift "*) part_swift ;; esac
exit 0
