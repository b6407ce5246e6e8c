#!/usr/bin/env bash
# What the app tests need beside Python (README's test command runs this first):
#   chromium               the web demo's headless-browser test (Playwright drives it; no download)
#   junit4, org.json       the Android demo's pure-JVM core, compiled and tested with javac/java
#   web_demo/node_modules  onnxruntime-web, from web_demo/package-lock.json (npm ci)
# Installs with apt-get when run as root on Debian/Ubuntu; elsewhere it says what is missing and
# the tests that need it skip with that reason.
set -uo pipefail
cd "$(dirname "$0")/.."
want=()
command -v chromium >/dev/null || command -v chromium-browser >/dev/null || want+=(chromium)
[ -f /usr/share/java/junit4.jar ] || want+=(junit4)
[ -f /usr/share/java/com.android.json.jar ] || [ -f /usr/share/java/android-json.jar ] || want+=(libandroid-json-java)
command -v javac >/dev/null || want+=(openjdk-17-jdk-headless)
command -v npm >/dev/null || want+=(nodejs npm)
if [ ${#want[@]} -gt 0 ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        echo "tests/tools.sh: installing ${want[*]}"
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${want[@]}" >/dev/null ||
            { apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${want[@]}" >/dev/null; } ||
            echo "tests/tools.sh: could not install ${want[*]}; the tests that need them will skip"
    else
        echo "tests/tools.sh: missing ${want[*]} (install them; the tests that need them skip)"
    fi
fi
if [ -f web_demo/package-lock.json ] && command -v npm >/dev/null; then
    (cd web_demo && npm ci --no-audit --no-fund --loglevel=error) ||
        echo "tests/tools.sh: npm ci failed in web_demo; the web demo tests will skip"
fi
exit 0
