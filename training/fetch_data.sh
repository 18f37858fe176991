#!/bin/bash
# Download (npm pack) and unpack the openly licensed emoji sets into WORK (default /tmp/emoji-data).
# Licences: Noto Apache-2.0, Twemoji graphics CC-BY-4.0, Fluent MIT, emoji-datasource / emojibase MIT (see NOTICE).
set -eo pipefail
WORK=${1:-/tmp/emoji-data}
mkdir -p "$WORK" && cd "$WORK"
pack() { [ -d "$2/package" ] || { mkdir -p "$2"; tar xzf "$(npm pack -q "$1" | tail -1)" -C "$2"; }; }
pack emoji-datasource-google@16.0.0 g
pack emoji-datasource-twitter@16.0.0 t
pack @lobehub/fluent-emoji-3d@1.1.0 f
pack emojibase-data@17.0.0 e
echo "unpacked into $WORK"
