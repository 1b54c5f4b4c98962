#!/usr/bin/env bash
# Lints the AWS SAM template (infra/template.yaml) with cfn-lint (PyPI): resource
# properties, references, conditions, SAM resources. Any error or warning fails.
#
#   scripts/cfn-lint.sh [template]
#
# cfn-lint skips its IAM action check (W3037) in templates with the SAM transform, so
# a second pass lints the plain CloudFormation part alone (the IAM roles, the table,
# the queue, the log groups, ...): every IAM action must exist.
# cfn-lint is installed once into a virtualenv under target/.
set -euo pipefail
cd "$(dirname "$0")/.."

CFN_LINT_VERSION=1.58.0
VENV="$PWD/target/cfn-lint-venv"
TEMPLATE="${1:-infra/template.yaml}"

if ! "$VENV/bin/cfn-lint" --version 2>/dev/null | grep -q "$CFN_LINT_VERSION"; then
  echo "installing cfn-lint $CFN_LINT_VERSION (once) into $VENV" >&2
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet "cfn-lint==$CFN_LINT_VERSION"
fi

WORK="$(mktemp -d -t coupon-book-cfn-lint.XXXXXX)"
trap 'rm -rf "$WORK"' EXIT

echo "cfn-lint $CFN_LINT_VERSION: $TEMPLATE" >&2
# Non-zero on any error or warning (informational findings are not reported).
"$VENV/bin/cfn-lint" -- "$TEMPLATE"

# The plain part: no transform, no AWS::Serverless::* resources, and nothing that
# refers to them (the stream's event source mapping, the outputs).
"$VENV/bin/python" - "$TEMPLATE" "$WORK/plain.json" <<'PY'
import json
import sys

from cfnlint.decode import decode

template, matches = decode(sys.argv[1])
if matches or template is None:
    for match in matches:
        print(match, file=sys.stderr)
    sys.exit(1)
template = json.loads(json.dumps(template))
for key in ("Transform", "Globals", "Outputs"):
    template.pop(key, None)
resources = template["Resources"]
removed = {name for name, r in resources.items() if r["Type"].startswith("AWS::Serverless::")}


def refers(node, names):
    if isinstance(node, dict):
        if node.get("Ref") in names:
            return True
        get_att = node.get("Fn::GetAtt")
        if isinstance(get_att, list) and get_att and get_att[0] in names:
            return True
        if isinstance(get_att, str) and get_att.split(".")[0] in names:
            return True
        sub = node.get("Fn::Sub")
        text = sub if isinstance(sub, str) else sub[0] if isinstance(sub, list) else ""
        if any("${" + n + "}" in text or "${" + n + "." in text for n in names):
            return True
        return any(refers(v, names) for v in node.values())
    if isinstance(node, list):
        return any(refers(v, names) for v in node)
    return False


while True:
    more = {n for n, r in resources.items() if n not in removed and refers(r, removed)}
    if not more:
        break
    removed |= more
for name in removed:
    del resources[name]
print("IAM pass: " + ", ".join(sorted(resources)), file=sys.stderr)
with open(sys.argv[2], "w") as out:
    json.dump(template, out, indent=1)
PY
# Parameters and conditions used only by the removed resources are fine here.
if ! "$VENV/bin/cfn-lint" --ignore-checks W2001 W8001 -- "$WORK/plain.json"; then
  echo "(findings above are in a copy of $TEMPLATE holding only its plain resources)" >&2
  exit 1
fi
echo "cfn-lint: no errors or warnings" >&2
