// Preloaded (node --import) into the emulator child processes: when the local stack's
// process goes away, even by kill -9, the IPC channel closes and the child stops as if
// asked to, instead of holding its port and folder as an orphan.
process.on("disconnect", () => process.kill(process.pid, "SIGTERM"));
