#!/usr/bin/env bash
# How long a node that joins empty takes to install the snapshot of a filled store
# (docs/benchmarks/results.md, "A node joining a filled store"). Release builds only.
# Usage: join-install.sh fill BIN N   -- a one-node cluster (node 1) stores N 4 KiB objects
#        join-install.sh join BIN ID  -- node 1 and a new empty node ID (2, 3, ...: each run
#                                        a new id); prints ID's install log lines and peak
#                                        RSS, then removes ID from the cluster again
set -euo pipefail
D=/var/tmp/ib
export RUCKET_ACCESS_KEY_ID=admin RUCKET_SECRET_ACCESS_KEY=change-me-to-a-long-secret
start1() {
  "$1" serve --node-id 1 --listen 127.0.0.1:9100 --cluster-listen 127.0.0.1:7100 \
    --peers 1=127.0.0.1:7100 --cluster-secret-file $D/secret --data-dir $D/d1 \
    --raft-snapshot-every 1000 >> $D/n1.log 2>&1 &
  echo $! > $D/n1.pid
  until curl -sf http://127.0.0.1:9100/_rucket/health/ready >/dev/null; do sleep 0.2; done
}
case $1 in
fill)
  rm -rf $D; mkdir -p $D; head -c 32 /dev/urandom | base64 > $D/secret
  start1 "$2"
  "$2" bench --endpoint http://127.0.0.1:9100 --op put --size 4KiB --concurrency 64 --count "$3" | tail -3
  kill $(cat $D/n1.pid); wait || true ;;
join)
  id=$3; start1 "$2"
  "$2" serve --node-id $id --listen 127.0.0.$id:9100 --cluster-listen 127.0.0.$id:7100 --peers 1=127.0.0.1:7100 \
    --cluster-secret-file $D/secret --data-dir $D/d$id --raft-snapshot-every 1000 > $D/n$id.log 2>&1 &
  pid=$!
  sleep 1
  /usr/bin/time -f "add-node took %e s" "$2" cluster add-node --endpoint http://127.0.0.1:9100 --id $id --address 127.0.0.$id:7100 | tail -1
  grep -E "installing a snapshot|folded the copied|installed a snapshot" $D/n$id.log | sed 's/\x1b\[[0-9;]*m//g' | cut -c1-260
  grep VmHWM /proc/$pid/status
  "$2" cluster remove-node --endpoint http://127.0.0.1:9100 --id $id | tail -1
  kill $pid $(cat $D/n1.pid); wait || true ;;
esac
