/**
 * `change-log new-epoch`: after the registry's data was restored from a backup, tells every
 * connected registry to copy the current state again (docs/operations.md). Edges notice a
 * restore by themselves too (their cursor no longer matches the log); this makes it certain.
 */
import type { CommandSpec } from "./args.js";
import type { CommandContext } from "./context.js";

export const changeLogCommands: CommandSpec<CommandContext>[] = [
  {
    path: ["change-log", "new-epoch"],
    summary: "Start a new change-log epoch after a restore: every connected registry does a full resync.",
    credentials: "admin",
    flags: [{ name: "yes", short: "y", kind: "boolean", help: "accepted for az compatibility; nothing is asked" }],
    run: async (ctx) => {
      const answer = await ctx.management().call<{ epoch: string }>("POST", "changeLog/epoch");
      ctx.print(answer, () => `new change-log epoch ${answer.epoch}: every connected registry will do a full resync at its next feed read\n`);
    },
  },
];
