# The rotation on a real md RAID1 in the QEMU guest (tests/vm/test_raid_vm.py runs it).
# disks: vda vdb = the fixed mirror, vdc vdd = two rotating backup disks, vde = another
# array's disk. Each `sec NAME CMD...` prints CMD's output between markers, then rc=N.
sec() { n=$1; shift; echo "=====BEGIN $n====="; "$@" 2>&1; echo "rc=$?"; echo "=====END $n====="; }
sysfs() {
  d=/sys/block/md0/md
  for a in array_state level raid_disks degraded sync_action sync_completed mismatch_cnt \
           last_sync_action sync_speed component_size; do
    [ -e $d/$a ] && echo "$a=$(cat $d/$a)"
  done
  for dev in $d/dev-*; do
    echo "${dev##*/}/state=$(cat $dev/state)"
    echo "${dev##*/}/slot=$(cat $dev/slot)"
  done
}
dump() {
  sec $1.mdstat cat /proc/mdstat
  sec $1.sysfs sysfs
  sec $1.detail mdadm --detail --export /dev/md0
}
atlas() { $PYTHON -m atlas_ha --config /atlas/settings.toml "$@"; }
uuid() { mdadm --examine --export $1 | sed -n 's/^MD_DEV_UUID=//p'; }
fill() { dd if=/dev/urandom of=/dev/md0 bs=64k count=$1 seek=$2 conv=fsync 2>/dev/null; }

mkdir -p /atlas /tmp/esd /tmp/sid
cat > /atlas/settings.toml <<'TOML'
name = "guest"
esd_data = "/tmp/esd"
sid_data = "/tmp/sid"
[raid]
mdadm = "/sbin/mdadm"
poll = 0.5
[raid.rotating]
md0 = [2]
TOML
slow() { echo $1 > /proc/sys/dev/raid/speed_limit_min; echo $1 > /proc/sys/dev/raid/speed_limit_max; }
fast() { echo 100000 > /proc/sys/dev/raid/speed_limit_min; echo 200000 > /proc/sys/dev/raid/speed_limit_max; }
slow 10  # KiB/s: still syncing whatever the guest's speed
sec create mdadm --create /dev/md0 --level=1 --raid-devices=3 --metadata=1.2 \
  --bitmap=internal --run /dev/vda /dev/vdb /dev/vdc
sleep 1
dump resyncing
sec refuse-syncing atlas raid rotate-out md0 --member /dev/vdc
fast
mdadm --wait /dev/md0
sec create-other mdadm --create /dev/md1 --level=1 --raid-devices=2 --metadata=1.2 --run \
  /dev/vde missing
mdadm --stop /dev/md1 >/dev/null 2>&1
fill 40 0
dump created
sec status-created atlas raid status md0 --json
sec examine-vdc-before mdadm --examine --export /dev/vdc
sec rotate-out-vdc atlas raid rotate-out md0 --member "$(uuid /dev/vdc)" --json
dump out-vdc
sec status-out atlas raid status md0 --json
sec refuse-last atlas raid rotate-out md0 --member /dev/vdb
sec refuse-other-array atlas raid rotate-in md0 /dev/vde
fill 40 40
slow 10
sec rotate-in-vdd atlas raid rotate-in md0 /dev/vdd --no-wait --json
dump recovering
sec status-recovering atlas raid status md0 --json
fast
mdadm --wait /dev/md0
sleep 1
dump in-vdd
sec check-vdd atlas raid check md0 --json
dump checked-vdd
sec rotate-out-vdd atlas raid rotate-out md0 --member "$(uuid /dev/vdd)" --json
fill 20 80
sec examine-vdc-stale mdadm --examine --export /dev/vdc
sec rotate-in-vdc atlas raid rotate-in md0 /dev/vdc --json
dump in-vdc
sec status-final atlas raid status md0 --json
sec record cat /tmp/esd/raid-rotation.json
