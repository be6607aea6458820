/* seal_cli.h - `vmseal-worker seal [options] -a IMAGE...`: seal local images
 * with the same engine as the vm.seal job, without a broker, with
 * virt-sysprep's habits (vmseal-worker(8) lists what still differs).
 *
 *   -a/--add IMAGE (or plain IMAGE arguments; order kept)
 *   --format qcow2|raw|auto   for the images after it (auto, the default:
 *                             the qcow2 magic, else raw; qemu never probes)
 *   --operations/--operation/--ops OPS, --enable OPS, --disable OPS:
 *                             the choice, resolved by proto_sysprep_select()
 *   -n/--dry-run  -v/--verbose  -x  -q/--quiet  -V/--version
 *   --list-operations ("name * description", virt-sysprep's format)
 *   --hostname NAME  --no-selinux-relabel  --allow-missing MOUNTPOINT
 *   --report FILE  --memsize MB  --smp N  --tcg-tb-size MB|-1
 *   --warm        launch an appliance first, then hot-plug the images into
 *                 it (what an idle worker does, seal.h)
 *   --compressed-kernel  boot the appliance's bzImage (seal_kernel.c)
 *
 * Output (stdout), one line each, stable for scripts:
 *   image <format> <path>        one per image, before anything runs
 *   dry-run: ...                 with -n, before the phases
 *   phase <name> <percent>% <detail>
 *   op <name> start
 *   removed <op> <path>          changed <op> <path>
 *   op <name> done removed=N changed=M ms=T
 *   filesystem <device> <type> <mountpoint>
 *   not-sealed <mountpoint> <spec> (<why>)
 *   summary root=<dev> distro=<id> family=<f> operations=N removed=N changed=M[ dry_run=yes]
 *   warm_start ready|failed launch_ms=…   (with --warm, before the phases)
 *   seal_phases launch_ms=… inspect_ms=… ops_ms=… shutdown_ms=… total_ms=… warm=0|1
 *     (warm=1: sealed in the warm appliance; launch_ms is the hot-plug)
 * Guest and image names are escaped (str_escape).  On failure:
 * "vmseal-worker seal: error: <code>: <message>" on stderr (the
 * seal_phases line is still printed); a usage error names the option
 * ("vmseal-worker seal: --operations: unknown sysprep operation 'foo'").
 * Exit status: 0 sealed (or dry run done), 1 failed, 2 usage error.
 * Backend settings come from the environment (LIBGUESTFS_BACKEND,
 * LIBGUESTFS_BACKEND_SETTINGS).
 */
#ifndef VMSEAL_SEAL_CLI_H
#define VMSEAL_SEAL_CLI_H

int seal_cli_main(int argc, char **argv);

#endif
