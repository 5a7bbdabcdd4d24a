#!/usr/bin/env python3
"""with-slice.py NS COMMAND...: runs COMMAND with a CPU time slice of NS nanoseconds (0: the kernel's default).

Linux 6.12+ (EEVDF) lets a SCHED_OTHER thread ask for a shorter slice with sched_setattr; the slice is inherited by
the command's threads and children. scripts/reload-stall.mjs uses it (STALL_CLIENT_SLICE_US) to run its pinging client
with a short slice and kong-ts with the default one, so that what the pings measure is the proxy, not the client
waiting for a core on a machine whose two cores a reload keeps busy.
"""
import ctypes, os, struct, sys

SYS_SCHED_SETATTR = 314  # x86_64
attr = struct.pack('IIQiIQQQ', 48, 0, 0, 0, 0, int(sys.argv[1]), 0, 0)  # size, SCHED_OTHER, ..., sched_runtime
if ctypes.CDLL(None, use_errno=True).syscall(SYS_SCHED_SETATTR, 0, ctypes.create_string_buffer(attr, 48), 0) != 0:
    sys.exit(f'with-slice: sched_setattr failed (errno {ctypes.get_errno()}): this kernel has no custom slices')
os.execvp(sys.argv[2], sys.argv[2:])
