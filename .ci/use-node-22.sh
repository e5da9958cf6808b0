# Source this file (`. .ci/use-node-22.sh`) to run this shell's `node` and `npm` on Node.js 22.
#
# Why: the project needs Node.js 22 LTS (Node 20 reached end of life on 2026-04-30, and our Azure
# SDKs, Azurite and vitest declare Node >= 22), but Debian's only Node is 20. npm checks engines
# against the Node that runs npm itself, so Node 22 has to be first on PATH *before* `npm ci`:
# a `node` devDependency would only reach the npm scripts, after `npm ci` had already run on 20.
#
# What: if `node` on PATH is already 22.x or newer, nothing. Otherwise the pinned Node binary
# package from the npm registry (node-linux-<arch>, the same build nodejs.org ships) is fetched
# once with `npm pack`, checked against the sha512 pinned here (the registry's integrity, in hex),
# unpacked into .tools/ (inside the checkout, so nothing system-wide changes: `npm install -g`
# would overwrite Debian's /usr/bin/node, npm's global prefix there being /usr) and put first
# on PATH. Debian's npm starts with `#!/usr/bin/env node`, so npm itself then runs on Node 22 too.

NODE22_VERSION=22.23.5

use_node_22() {
  local repo current arch sha512 home tmp tarball actual
  current="$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)"
  if [ "$current" -ge 22 ] 2>/dev/null; then
    return 0
  fi
  repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
  case "$(uname -m)" in
    x86_64) arch=x64; sha512=de3842fb07285b1299c5c46a176b144a5d1cf47117167babfe7b883f1e8ee8258a5748ce516426ec7b70e52b97aaa94c084862d1c26ac9b14f11be6185c06233 ;;
    aarch64) arch=arm64; sha512=7b52ce506295aee3c6b8b56eb67f3e0a09b9a48d403e6e0abe1fb36dbfea7bf6690fdb3e4d06f2e6252064e5a63e96d22a98f44ddf033f53743449d76ac1e2ce ;;
    *) echo "use-node-22: no pinned Node 22 for $(uname -m); install Node.js 22 yourself" >&2; return 1 ;;
  esac
  home="$repo/.tools/node-v$NODE22_VERSION-linux-$arch"
  if [ ! -x "$home/bin/node" ]; then
    echo "use-node-22: fetching node-linux-$arch@$NODE22_VERSION from the npm registry (once, into .tools/)" >&2
    tmp="$(mktemp -d)"
    tarball="$(cd "$tmp" && npm pack --silent "node-linux-$arch@$NODE22_VERSION")" || { rm -rf "$tmp"; return 1; }
    actual="$(sha512sum "$tmp/$tarball" | cut -d" " -f1)"
    if [ "$actual" != "$sha512" ]; then
      echo "use-node-22: $tarball has sha512 $actual, expected $sha512; not using it" >&2
      rm -rf "$tmp"
      return 1
    fi
    # Unpack beside the final folder and rename, so an interrupted unpack never looks installed.
    mkdir -p "$home.partial"
    tar -xzf "$tmp/$tarball" -C "$home.partial" --strip-components=1 package/bin/node package/LICENSE
    rm -rf "$tmp" "$home"
    mv "$home.partial" "$home"
  fi
  export PATH="$home/bin:$PATH"
  hash -r
}

use_node_22 || { echo "use-node-22: could not set up Node.js 22" >&2; return 1 2>/dev/null || exit 1; }
