#!/usr/bin/env bash
# The commit a stack was last deployed from (`ops.drift deployed-commit`: the git head Pulumi
# recorded with the last successful update), checked against this checkout (fetch-depth: 0, with
# origin/main and the tags). Writes sha= to $GITHUB_OUTPUT.
#
#   STACK     the stack
#   MODE      reviewed:  the drift check is about to run that commit's program with the stack's
#                        credentials: refuse unless it is reviewed code (stg: on main; prod: a
#                        vMAJOR.MINOR.PATCH tag on main), not a branch someone deployed by hand
#             not-ahead: a deploy of HEAD_SHA is about to start: refuse when the stack already
#                        runs a newer commit of main (a run that waited behind a newer one would
#                        roll the stack back); a stack with no deployment yet passes
#   HEAD_SHA  (not-ahead) the commit about to be deployed
#   MAIN_REF  main as fetched (default refs/remotes/origin/main)
set -euo pipefail

fail() {
  printf '::error::%s\n' "$1"
  exit 1
}

stack=${STACK:?STACK is required}
mode=${MODE:?MODE is reviewed or not-ahead}
main_ref=${MAIN_REF:-refs/remotes/origin/main}

if ! deployed=$(uv run python -m ops.drift deployed-commit --stack "$stack"); then
  if [[ $mode == not-ahead ]]; then
    echo "::warning::$stack: no deployed commit known (first deploy, or the history is unreadable: the deploy will tell)"
    echo "sha=" >>"${GITHUB_OUTPUT:-/dev/null}"
    exit 0
  fi
  fail "$stack: the deployed commit is unknown (ops.drift deployed-commit failed, above): an error, not drift"
fi
deployed=$(tail -n 1 <<<"$deployed")
[[ $deployed =~ ^[0-9a-f]{7,40}$ ]] || fail "$stack: '$deployed' is not a commit"
if ! full=$(git rev-parse --verify --quiet "$deployed^{commit}"); then
  if [[ $mode == not-ahead ]]; then
    # deployed by hand from a commit never pushed: nothing here to compare, the deploy replaces it
    echo "::warning::$stack runs $deployed, which is not in this repository (deployed by hand from an unpushed commit?): deploying over it"
    echo "sha=" >>"${GITHUB_OUTPUT:-/dev/null}"
    exit 0
  fi
  fail "$stack was deployed from $deployed, which is not in this repository (an unpushed commit deployed by hand?)"
fi

case $mode in
  reviewed)
    git merge-base --is-ancestor "$full" "$main_ref" ||
      fail "$stack was deployed from $full, which is not on main: refusing to run unreviewed code with the stack's credentials"
    if [[ $stack == prod ]]; then
      tags=$(git tag --points-at "$full" --list 'v*' | grep -E '^v[0-9]+\.[0-9]+\.[0-9]+$' || true)
      [[ -n $tags ]] ||
        fail "prod was deployed from $full, which carries no release tag: refusing to run it with prod's credentials"
    fi
    echo "$stack runs $full ($(git describe --tags --always "$full"))"
    ;;
  not-ahead)
    head=$(git rev-parse --verify "${HEAD_SHA:?HEAD_SHA is required}^{commit}")
    if [[ $full != "$head" ]] && git merge-base --is-ancestor "$head" "$full"; then
      fail "$stack already runs $full, a newer commit than $head: not deploying $head (that would roll $stack back)"
    fi
    echo "$stack runs $full; deploying $head moves it forward"
    ;;
  *) fail "MODE must be reviewed or not-ahead, not '$mode'" ;;
esac
echo "sha=$full" >>"${GITHUB_OUTPUT:-/dev/null}"
