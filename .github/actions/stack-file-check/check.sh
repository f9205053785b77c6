#!/usr/bin/env bash
# check.sh STACK [DIRECTORY]: exit 0 when DIRECTORY/Pulumi.STACK.yaml has a top-level
# `encryptionsalt:` line; exit 1 with one error (a GitHub annotation on the file) naming the file
# and the commands that write the salt.
set -euo pipefail
stack=${1:?usage: check.sh STACK [DIRECTORY]}
directory=${2:-.}
file="Pulumi.$stack.yaml"
path="$directory/$file"

fail() {
  # ::error file=...:: puts the message on the file in the run's annotations
  printf '::error file=%s::%s\n' "$file" "$1"
  exit 1
}

if [[ ! -f $path ]]; then
  fail "$file does not exist in $directory: the $stack stack has no settings file in git"
fi
if ! grep -Eq '^encryptionsalt:[[:space:]]*[^[:space:]]' "$path"; then
  fail "$file has no encryptionsalt line, so CI cannot decrypt the stack's secure: values. A new \
stack: \`pulumi stack init $stack --secrets-provider passphrase\` (it writes encryptionsalt into \
$file); an existing one: \`pulumi stack change-secrets-provider passphrase --stack $stack\` with \
the team's passphrase. Then set secrets with \`pulumi config set --secret --stack $stack KEY\` and \
commit $file, encryptionsalt and the secure: values (docs/operations.md, 'Secrets in git')."
fi
echo "$file: encryptionsalt present ($(grep -c 'secure:' "$path" || true) secure: values)"
