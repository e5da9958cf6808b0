/**
 * How the local stack's emulator processes stop: only when the stack tells them to (an
 * IPC "stop" message) or when the stack is gone (the IPC channel closes, even after a
 * kill -9 of the stack). The terminal's Ctrl-C and systemd's stop (KillMode=control-group)
 * signal every process of the group at once; an emulator that died then would take the
 * registry's last writes with it while the stack is still finishing them, so the
 * emulators ignore those signals and the stack stops them last, in order.
 */
export function stopWhenTheStackSays(stop: () => Promise<void>, log: (message: string) => void): void {
  let stopping: Promise<void> | undefined;
  const run = (): void => {
    stopping ??= stop().then(
      () => process.exit(0),
      (error: unknown) => {
        log(`stopping failed: ${(error as Error).message}`);
        process.exit(1);
      },
    );
  };
  process.on("message", (message: unknown) => {
    if ((message as { type?: string } | null)?.type === "stop") run();
  });
  process.on("disconnect", run);
  for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) process.on(signal, () => {});
}
