/* seal_cli.h - `vmseal-worker seal [options] IMAGE…`: seal local images with
 * the same engine as the vm.seal job, without a broker.
 *
 *   --enable OP,…        --disable OP,…      --hostname NAME
 *   --no-selinux-relabel --format qcow2|raw  --memsize MB   --smp N
 *   --list-operations    --quiet (no per-path lines)
 *   --warm               launch an appliance first, then hot-plug the
 *                        images into it (what an idle worker does, seal.h)
 *
 * Output (stdout), one line each, stable for scripts:
 *   phase <name> <percent>% <detail>
 *   op <name> start
 *   removed <op> <path>          changed <op> <path>
 *   op <name> done removed=N changed=M
 *   summary root=<dev> distro=<id> family=<f> operations=N removed=N changed=M
 *   warm_start ready|failed launch_ms=…     (with --warm, before the rest)
 *   seal_phases launch_ms=… inspect_ms=… ops_ms=… shutdown_ms=… total_ms=… warm=0|1
 *     (warm: launch_ms is the hot-plug's time)
 * On failure: "vmseal-worker seal: error: <code>: <message>" on stderr (the
 * seal_phases line is still printed).  Exit status: 0 sealed, 1 failed,
 * 2 usage error.  The format defaults to what the image's header says
 * (qcow2 magic, else raw); backend settings come from the environment
 * (LIBGUESTFS_BACKEND, LIBGUESTFS_BACKEND_SETTINGS).
 */
#ifndef VMSEAL_SEAL_CLI_H
#define VMSEAL_SEAL_CLI_H

int seal_cli_main(int argc, char **argv);

#endif
