#!/usr/bin/env bash
# The production release check, run before the plan (with the stg check) and again by the apply
# job after its approval (git only), from a checkout with every tag and origin/main
# (actions/checkout with fetch-depth: 0). Writes sha= (the full commit) and tag= to $GITHUB_OUTPUT.
#
#   TAG                 the release tag to deploy (vMAJOR.MINOR.PATCH)
#   MAIN_REF            main as fetched (default refs/remotes/origin/main)
#   EXPECT_SHA          the commit the plan was made from: the tag must still point there
#   RUN_RELEASE_CHECK   true: `ops.release_check` (the tag equals the prod GitOps pin)
#   REQUIRE_STG_DEPLOY  true: a deploy-stg run of this exact commit succeeded (GitHub API through
#                       `gh`, GH_TOKEN and REPO); one still running is waited for up to
#                       STG_WAIT_MINUTES (default 45), asking every POLL_SECONDS (default 60)
#
# Refuses (exit 1, one ::error:: line): a name that is not a release tag; a tag that is not on
# main; a tag that is not the newest release tag on main (an older run approved late would roll
# prod back); a tag moved since the plan; no successful stg deploy of the commit.
set -euo pipefail

fail() {
  printf '::error::release check: %s\n' "$1"
  exit 1
}

tag=${TAG:?TAG is required}
main_ref=${MAIN_REF:-refs/remotes/origin/main}

[[ $tag =~ ^v[0-9]+\.[0-9]+\.[0-9]+$ ]] ||
  fail "'$tag' is not a release tag (vMAJOR.MINOR.PATCH)"
sha=$(git rev-parse --verify --quiet "refs/tags/$tag^{commit}") ||
  fail "tag $tag does not exist (pushed? checked out with fetch-depth: 0?)"
git rev-parse --verify --quiet "$main_ref^{commit}" >/dev/null ||
  fail "$main_ref is missing from this checkout (fetch-depth: 0 fetches it)"
git merge-base --is-ancestor "$sha" "$main_ref" ||
  fail "$tag ($sha) is not on main: only reviewed commits on main are released"

newest=$(git tag --merged "$main_ref" --list 'v*' | grep -E '^v[0-9]+\.[0-9]+\.[0-9]+$' |
  sort -V | tail -n 1 || true)
[[ $newest == "$tag" ]] ||
  fail "$tag is not the newest release tag on main ($newest is): deploying it would roll prod \
back. To roll back, revert on main and release that as a new tag (docs/operations.md, \
'Restore, stale locks, rollback')"

if [[ -n ${EXPECT_SHA:-} && $sha != "$EXPECT_SHA" ]]; then
  fail "tag $tag points at $sha now, not at $EXPECT_SHA, the commit that was planned and approved"
fi

if [[ ${RUN_RELEASE_CHECK:-true} == true ]]; then
  uv run python -m ops.release_check --stack "${STACK:-prod}" --tag "$tag" ||
    fail "ops.release_check refused $tag (above)"
fi

if [[ ${REQUIRE_STG_DEPLOY:-true} == true ]]; then
  : "${REPO:?REPO is required for the stg check}"
  deadline=$((SECONDS + ${STG_WAIT_MINUTES:-45} * 60))
  while :; do
    # https://docs.github.com/en/rest/actions/workflow-runs#list-workflow-runs-for-a-workflow
    runs=$(gh api -X GET "repos/$REPO/actions/workflows/deploy-stg.yml/runs" \
      -f head_sha="$sha" -f event=push -f branch=main -f per_page=100 \
      --jq '.workflow_runs[] | "\(.status) \(.conclusion) \(.html_url)"') ||
      fail "could not list the deploy-stg runs of $sha (GitHub API)"
    if grep -q '^completed success ' <<<"$runs"; then
      echo "stg: $(grep -m1 '^completed success ' <<<"$runs" | cut -d' ' -f3) deployed $sha"
      break
    fi
    running=$(grep -E '^(queued|in_progress|waiting|requested|pending) ' <<<"$runs" | head -n 1 || true)
    if [[ -z $running ]]; then
      fail "$tag ($sha) has no successful stg deploy (deploy-stg runs of it: \
$(tr '\n' ';' <<<"${runs:-none}")): tag a commit whose stg deploy passed"
    fi
    if ((SECONDS >= deadline)); then
      fail "the stg deploy of $sha is still running (${running##* }): re-run this workflow once it has passed"
    fi
    echo "::notice::waiting for the stg deploy of $sha: ${running##* }"
    sleep "${POLL_SECONDS:-60}"
  done
fi

echo "release check passed: $tag = $sha"
{
  echo "sha=$sha"
  echo "tag=$tag"
} >>"${GITHUB_OUTPUT:-/dev/null}"
