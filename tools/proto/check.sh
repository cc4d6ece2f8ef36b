#!/usr/bin/env bash
# The contract in proto/ works for clients in other languages: buf lint and buf format pass, buf breaking
# finds no breaking change since the last release tag (when the checkout has one), and
# buf.gen.yaml generates Go (messages and gRPC), Java (messages and gRPC) and TypeScript, which
# then type-checks. Fails on the first error. .ci/run runs it; so can anyone, from anywhere.
#
# Tools, all from package registries: npm's @bufbuild/buf, @bufbuild/protoc-gen-es and typescript,
# pinned by package-lock.json here; Debian's protoc-gen-go, protoc-gen-go-grpc, protobuf-compiler
# (protoc, for Java) and protobuf-compiler-grpc-java-plugin, installed with apt-get when missing.
set -euo pipefail
tools="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$tools/../.." && pwd)"
cd "$root"

missing=()
for tool in protoc-gen-go:protoc-gen-go protoc-gen-go-grpc:protoc-gen-go-grpc protoc:protobuf-compiler \
            grpc_java_plugin:protobuf-compiler-grpc-java-plugin; do
    command -v "${tool%%:*}" >/dev/null || missing+=("${tool#*:}")
done
if ((${#missing[@]})); then
    if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
        echo "proto check: install the Debian packages ${missing[*]} first" >&2
        exit 1
    fi
    echo "proto check: installing ${missing[*]} (Debian)"
    apt-get update -qq -o Acquire::Retries=3
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends -o Acquire::Retries=3 \
        "${missing[@]}" >/dev/null
fi
npm ci --prefix "$tools" --ignore-scripts --no-audit --no-fund --loglevel=error
buf="$tools/node_modules/.bin/buf"

"$buf" lint
"$buf" format --diff --exit-code --path proto/trellis

# No breaking change since the last release: buf breaking (buf.yaml's FILE rules) against the newest
# release tag (v*) that HEAD descends from. A checkout without one (before the first release, an
# archive, or a clone made without tags) says so and skips it. Releases and tags: docs/api.md.
breaking="skipped: no release tag (v*) in this checkout"
if tag="$(git -C "$root" describe --tags --abbrev=0 --match 'v*' HEAD 2>/dev/null)"; then
    released="$(mktemp -d)"
    trap 'rm -rf "$released"' EXIT
    git -C "$root" archive "$tag" buf.yaml proto | tar -x -C "$released"
    "$buf" breaking --against "$released"
    breaking="none since $tag"
fi
echo "proto check: breaking changes: $breaking"

rm -rf "$tools/gen"
"$buf" generate --template buf.gen.yaml -o "$tools"
gen="$tools/gen"
problems=0
expect() {
    if [ ! -s "$1" ]; then
        echo "proto check: ${1#"$root"/} was not generated" >&2
        problems=$((problems + 1))
    fi
}
for proto in proto/trellis/v1/*.proto; do
    stem="$(basename "$proto" .proto)"
    expect "$gen/go/trellis/v1/$stem.pb.go"
    expect "$gen/java/dev/trellis/v1/${stem^}Proto.java"
    expect "$gen/ts/trellis/v1/${stem}_pb.ts"
    for service in $(sed -n 's/^service \([A-Za-z0-9_]*\).*/\1/p' "$proto"); do
        expect "$gen/go/trellis/v1/${stem}_grpc.pb.go"
        expect "$gen/java/dev/trellis/v1/${service}Grpc.java"
    done
done
for stem in status error_details code; do
    expect "$gen/ts/google/rpc/${stem}_pb.ts"
done
for stem in resource field_behavior; do
    expect "$gen/ts/google/api/${stem}_pb.ts"
done
((problems == 0)) || exit 1
"$tools/node_modules/.bin/tsc" -p "$tools/tsconfig.json"
echo "proto check: buf lint and format clean; breaking changes: $breaking; Go, Java and TypeScript generated; TypeScript type-checks"
