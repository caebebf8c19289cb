#!/bin/bash
# k8s_example.sh: doc/kubernetes/mailfetchd-statefulset.yaml, checked
# offline (no cluster, no kubeconform in Debian): it parses as YAML
# (python3-yaml); the StatefulSet's selector matches its pods' labels,
# its serviceName is the headless Service's name, every volumeMount names
# a volume, the claim it mounts is ReadWriteMany, SHARDS equals replicas;
# and the pod's own wrapper command, run here with HOSTNAME=mailfetchd-2
# and this build's mailfetchd, makes pod 2 instance 3 of 4 (its
# --check-config says so). TAP output.
set -u
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$top_srcdir/tests/lib/tap.sh"
MAILFETCHD=${MAILFETCHD:-$top_srcdir/_build/mailfetchd}

python3 -c 'import yaml' 2>/dev/null ||
    tap_bail "python3-yaml is missing (apt-get install -y python3-yaml)"
[ -x "$MAILFETCHD" ] || tap_bail "no mailfetchd at $MAILFETCHD"
W=$(mktemp -d /tmp/mfd-k8s.XXXXXX) || tap_bail "mktemp failed"
tap_cleanup_add 'rm -rf "$W"'

# The checks print "ok NAME" or "not ok NAME: why"; the wrapper's
# command on its last line, "cmd ARGS".
python3 - "$top_srcdir/doc/kubernetes/mailfetchd-statefulset.yaml" >"$W/checks" <<'PY'
import sys, yaml
docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d]
by = {d["kind"]: d for d in docs}
def check(ok, name, why=""):
    print(("ok " if ok else "not ok ") + name + ("" if ok else ": " + why))
for kind in ("StatefulSet", "PersistentVolumeClaim", "Service"):
    check(kind in by, "has a " + kind, "kinds: %s" % list(by))
    check(all(k in by.get(kind, {}) for k in ("apiVersion", "metadata")),
          kind + " has apiVersion and metadata")
ss = by["StatefulSet"]
check(ss["apiVersion"] == "apps/v1", "StatefulSet is apps/v1", ss["apiVersion"])
spec = ss["spec"]
tmpl = spec["template"]
labels = tmpl["metadata"]["labels"]
sel = spec["selector"]["matchLabels"]
check(all(labels.get(k) == v for k, v in sel.items()),
      "selector matches the pod labels", "%s vs %s" % (sel, labels))
svc = by["Service"]
check(spec["serviceName"] == svc["metadata"]["name"] and
      svc["spec"].get("clusterIP") == "None",
      "serviceName is a headless Service")
check(svc["spec"]["selector"] == sel, "the Service selects the pods")
pod = tmpl["spec"]
vols = {v["name"]: v for v in pod["volumes"]}
c = pod["containers"][0]
for m in c["volumeMounts"]:
    check(m["name"] in vols, "volumeMount %s names a volume" % m["name"])
pvc = by["PersistentVolumeClaim"]
claim = vols["shared"]["persistentVolumeClaim"]["claimName"]
check(claim == pvc["metadata"]["name"] and
      pvc["spec"]["accessModes"] == ["ReadWriteMany"],
      "the shared volume is the ReadWriteMany claim")
env = {e["name"]: e.get("value") for e in c["env"]}
check(env.get("SHARDS") == str(spec["replicas"]), "SHARDS equals replicas",
      "%s vs %s" % (env.get("SHARDS"), spec["replicas"]))
check(env.get("RUNTIME_DIRECTORY") in
      [m["mountPath"] for m in c["volumeMounts"] if m["name"] == "run"],
      "the control socket's directory is the pod's own emptyDir")
check(c["command"] == ["/bin/sh", "-c"] and len(c["args"]) == 1,
      "the container runs one sh -c wrapper")
print("cmd " + c["args"][0])
PY
[ -s "$W/checks" ] || tap_bail "the YAML checker failed"
while IFS= read -r line; do
	case "$line" in
	"ok "*) tap_ok "${line#ok }" ;;
	"not ok "*) tap_fail "${line#not ok }" ;;
	esac
done <"$W/checks"

# The wrapper itself, with this build's binary and a config of 40
# accounts; --check-config instead of the daemon.
cmd=$(sed -n 's/^cmd //p' "$W/checks")
cmd=${cmd//\/usr\/sbin\/mailfetchd/$MAILFETCHD}
cmd=${cmd//\/etc\/mailfetchd\/mailfetchd.conf/$W/mailfetchd.conf}
printf 'pw\n' >"$W/pw" && chmod 600 "$W/pw"
{
	printf 'state_dir = "%s"\n' "$W/state"
	for ((i = 0; i < 40; i++)); do
		printf 'account "a%02d" {\n protocol = imap\n host = "127.0.0.1"\n tls = none\n user = u\n password_file = "%s"\n maildir = "%s/m"\n}\n' \
		    "$i" "$W/pw" "$W"
	done
} >"$W/mailfetchd.conf"
out=$(HOSTNAME=mailfetchd-2 SHARDS=4 /bin/sh -c "$cmd --check-config" 2>&1)
tap_like "$out" '^# shard 3/4: [0-9]+ of 40 accounts' \
    "pod mailfetchd-2 of 4 runs as instance 3/4"
out=$(HOSTNAME=mailfetchd-0 SHARDS=4 /bin/sh -c "$cmd --check-config" 2>&1)
tap_like "$out" '^# shard 1/4: [0-9]+ of 40 accounts' \
    "pod mailfetchd-0 of 4 runs as instance 1/4"
tap_done
