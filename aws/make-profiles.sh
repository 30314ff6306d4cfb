#!/bin/bash
# The two instance profiles cluster.yaml names, made once per AWS account with the AWS CLI:
#   regclip-bench-head    Ray's autoscaler: AWS's AmazonEC2FullAccess (what Ray's own default head role
#                         has) + aws/head-policy.json (pass the worker role, read the image's parameter,
#                         the bucket)
#   regclip-bench-worker  aws/worker-policy.json: read and write BUCKET, nothing else
# Usage: bash aws/make-profiles.sh BUCKET      (again: updates the policies, keeps the rest)
set -euo pipefail
bucket="${1:?usage: bash aws/make-profiles.sh BUCKET (the bucket of --storage s3://BUCKET/...)}"
[[ "$bucket" =~ ^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$ ]] || { echo "not an S3 bucket name: $bucket" >&2; exit 2; }
here="$(cd "$(dirname "$0")" && pwd)"
for who in head worker; do
  name="regclip-bench-$who"
  aws iam get-role --role-name "$name" >/dev/null 2>&1 ||
    aws iam create-role --role-name "$name" --assume-role-policy-document "file://$here/trust.json" >/dev/null
  aws iam put-role-policy --role-name "$name" --policy-name "$name" \
    --policy-document "$(sed "s/BUCKET/$bucket/g" "$here/$who-policy.json")"
  aws iam get-instance-profile --instance-profile-name "$name" >/dev/null 2>&1 || {
    aws iam create-instance-profile --instance-profile-name "$name" >/dev/null
    aws iam add-role-to-instance-profile --instance-profile-name "$name" --role-name "$name"
  }
  echo "$name: ready"
done
aws iam attach-role-policy --role-name regclip-bench-head --policy-arn arn:aws:iam::aws:policy/AmazonEC2FullAccess
