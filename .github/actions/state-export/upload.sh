#!/usr/bin/env bash
# Copies the state exports `ops.deploy` wrote into the backup directory
# (<stack>-state-before-<sha>.json before `up`; <stack>-state-after-failed-up-<sha>.json after a
# failed one) to the export bucket, a bucket of its own with credentials of their own
# (write-only to it; not the state bucket's). The deploy already happened or failed by now: an
# upload problem is a warning (the run's artifact keeps the same file), never a failed deploy.
#
#   STACK              the stack
#   BACKUP_DIR         where ops.deploy wrote the export
#   EXPORT_BUCKET_URL  s3://bucket[/prefix]; the file goes to <url>/<stack>/<file name>
#   S3_ENDPOINT_URL    the S3 API endpoint of MinIO/Ceph RGW (aws --endpoint-url); empty for AWS
#   S3_REGION          the bucket's region (default us-east-1, what MinIO and RGW expect)
#   AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY: the export bucket's credentials
set -uo pipefail

warn() {
  printf '::warning::state export upload: %s\n' "$1"
  exit 0
}

stack=${STACK:?STACK is required}
dir=${BACKUP_DIR:?BACKUP_DIR is required}
shopt -s nullglob
files=("$dir/$stack"-state-*.json)
((${#files[@]})) || warn "no $stack-state-*.json in $dir (the deploy stopped before its export)"
[[ -n ${EXPORT_BUCKET_URL:-} ]] || warn "the variable EXPORT_BUCKET_URL is not set: the export stays in the run's artifact only"
command -v aws >/dev/null 2>&1 || warn "no aws CLI on this runner: the export stays in the run's artifact only"

export AWS_DEFAULT_REGION=${S3_REGION:-us-east-1}
endpoint=()
if [[ -n ${S3_ENDPOINT_URL:-} ]]; then
  # without it the CLI talks to AWS; with it, to MinIO/Ceph (path-style addressing is botocore's
  # default for a custom endpoint)
  endpoint=(--endpoint-url "$S3_ENDPOINT_URL")
fi
for file in "${files[@]}"; do
  target="${EXPORT_BUCKET_URL%/}/$stack/${file##*/}"
  if aws s3 cp "${endpoint[@]}" --only-show-errors "$file" "$target"; then
    echo "kept $file as $target"
  else
    echo "::warning::state export upload: aws s3 cp $file $target failed (exit $?): the export is still in this run's artifact"
  fi
done
exit 0
