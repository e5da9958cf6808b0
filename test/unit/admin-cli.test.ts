/** The admin CLI's pure parts: the command line as az acr reads it, tables, help and the progress bar. */
import { describe, expect, it } from "vitest";
import { parseCommandLine, parseFlags, type FlagSpec } from "../../scripts/admin-cli/args.js";
import { COMMANDS } from "../../scripts/admin-cli/cli.js";
import { normalizeEndpoint, nextLink } from "../../scripts/admin-cli/client.js";
import { UsageError } from "../../scripts/admin-cli/errors.js";
import { fractionDone, progressBar, progressReporter, progressText } from "../../scripts/admin-cli/progress.js";
import { parseImage } from "../../scripts/admin-cli/repositories.js";
import { gatewayActions, repositoryActions } from "../../scripts/admin-cli/scope-maps.js";
import { cellText, renderDetails, renderTable } from "../../scripts/admin-cli/table.js";
import { commandHelp, groupHelp } from "../../scripts/admin-cli/usage.js";

function parse(argv: string[]) {
  const result = parseCommandLine(argv, COMMANDS);
  if (result.kind !== "command") throw new Error(`expected a command, got ${result.kind}`);
  return result;
}

function usageError(run: () => unknown): UsageError {
  try {
    run();
  } catch (error) {
    if (error instanceof UsageError) return error;
    throw error;
  }
  throw new Error("no UsageError");
}

describe("admin CLI command line", () => {
  it("finds the command by its words, also three deep", () => {
    expect(parse(["scope-map", "create", "--name", "abcde", "--repository", "r", "content/read"]).command.path).toEqual(["scope-map", "create"]);
    expect(parse(["token", "credential", "generate", "--name", "abcde"]).command.path).toEqual(["token", "credential", "generate"]);
    expect(parse(["connected-registry", "permissions", "update", "--name", "abcde", "--add", "x"]).command.path).toEqual(["connected-registry", "permissions", "update"]);
    expect(parse(["import", "--source", "a:b"]).command.path).toEqual(["import"]);
  });

  it("reads --repository as az acr does: a repository and its actions, repeatable", () => {
    const { flags } = parse(["scope-map", "create", "--name", "hello-pull", "--repository", "hello-world", "content/read", "metadata/read", "--repository", "app/*", "content/write", "--gateway", "factory1", "config/read"]);
    expect(flags.groups("repository")).toEqual([
      ["hello-world", "content/read", "metadata/read"],
      ["app/*", "content/write"],
    ]);
    expect(repositoryActions(flags.groups("repository"), "repository", "scope-map create")).toEqual([
      "repositories/hello-world/content/read",
      "repositories/hello-world/metadata/read",
      "repositories/app/*/content/write",
    ]);
    expect(gatewayActions(flags.groups("gateway"), "gateway", "scope-map create")).toEqual(["gateway/factory1/config/read"]);
    expect(usageError(() => repositoryActions([["hello-world"]], "add-repository", "scope-map update")).message).toBe(
      "--add-repository needs a name and at least one action, as in --add-repository hello-world content/read metadata/read",
    );
  });

  it("reads list flags up to the next flag, and flattens repeats", () => {
    const { flags } = parse(["connected-registry", "create", "-n", "factory1", "--repository", "a", "b", "--client-tokens", "t1", "t2", "--repository", "c", "-m", "readonly"]);
    expect(flags.list("repository")).toEqual(["a", "b", "c"]);
    expect(flags.list("client-tokens")).toEqual(["t1", "t2"]);
    expect(flags.string("name")).toBe("factory1");
    // Choices match case-insensitively and come back as the API spells them.
    expect(flags.string("mode")).toBe("ReadOnly");
  });

  it("takes --flag=value, also for values that start with a dash, and empty values", () => {
    const { flags } = parse(["connected-registry", "update", "--name=factory1", "--sync-window=", "--sync-message-ttl=P3D"]);
    expect(flags.string("name")).toBe("factory1");
    expect(flags.string("sync-window")).toBe("");
    const importFlags = parse(["import", "--source", "a:b", "--password=-secret", "--force", "-t", "x:1", "-t", "y:2"]).flags;
    expect(importFlags.string("password")).toBe("-secret");
    expect(importFlags.boolean("force")).toBe(true);
    expect(importFlags.boolean("no-wait")).toBe(false);
    expect(importFlags.list("image")).toEqual(["x:1", "y:2"]);
  });

  it("names every missing required flag", () => {
    expect(usageError(() => parse(["scope-map", "show"])).message).toBe("missing required flag --name");
    const specs: FlagSpec[] = [
      { name: "a", kind: "string", required: true, help: "" },
      { name: "b", kind: "string", required: true, help: "" },
    ];
    expect(usageError(() => parseFlags([], specs, "x")).message).toBe("missing required flags --a, --b");
  });

  it("refuses unknown verbs and flags, suggesting the near ones", () => {
    const verb = usageError(() => parseCommandLine(["scope-maps", "list"], COMMANDS));
    expect(verb.message).toBe('unknown command "scope-maps": use one of scope-map, token, connected-registry, import, repository, change-log, webhook, login, push-sample');
    const sub = usageError(() => parseCommandLine(["token", "credentials", "generate"], COMMANDS));
    expect(sub.message).toBe('unknown command "token credentials": after "token" use one of create, update, show, list, delete, credential');
    expect(sub.command).toBe("token");
    const flag = usageError(() => parse(["token", "create", "--name", "abcde", "--scopemap", "x"]));
    expect(flag.message).toBe('unknown flag --scopemap for "token create": did you mean --scope-map?');
    expect(flag.command).toBe("token create");
    expect(usageError(() => parseCommandLine(["token"], COMMANDS)).message).toBe('"token" needs a verb: use one of create, update, show, list, delete, credential');
  });

  it("refuses bad values: a choice, a missing value, a second value, a flag value on a switch", () => {
    expect(usageError(() => parse(["connected-registry", "get-settings", "--name", "abcde", "--generate-password", "3"])).message).toBe(
      '--generate-password must be one of 1, 2, not "3"',
    );
    expect(usageError(() => parse(["token", "show", "--name"])).message).toBe("--name needs a value (NAME)");
    expect(usageError(() => parse(["token", "show", "--name", "--output", "json"])).message).toContain('--name needs a value, not the flag "--output"');
    expect(usageError(() => parse(["token", "show", "--name", "a", "--name", "b"])).message).toBe("--name was given more than once");
    expect(usageError(() => parse(["token", "show", "--name", "abcde", "extra"])).message).toBe('unexpected argument "extra" (--name takes one value)');
    expect(usageError(() => parse(["import", "--source", "a:b", "--force=yes"])).message).toBe("--force takes no value");
    expect(usageError(() => parse(["token", "list", "--output", "yaml"])).message).toBe('--output must be one of table, json, tsv, not "yaml"');
  });

  it("checks numbers where a command reads them", () => {
    const { flags } = parse(["token", "credential", "generate", "--name", "abcde", "--expiration-in-days", "30"]);
    expect(flags.integer("expiration-in-days", 1, 36_500)).toBe(30);
    const bad = parse(["token", "credential", "generate", "--name", "abcde", "--expiration-in-days", "soon"]).flags;
    expect(usageError(() => bad.integer("expiration-in-days", 1, 36_500)).message).toBe('--expiration-in-days must be a whole number from 1 to 36500, not "soon"');
  });

  it("gives the admin flags to management commands and the token flags to repository commands", () => {
    expect(parse(["scope-map", "list", "--endpoint", "http://x", "--admin-key", "k"]).flags.string("admin-key")).toBe("k");
    expect(usageError(() => parse(["scope-map", "list", "--username", "u"])).message).toContain("unknown flag --username");
    const repository = parse(["repository", "list", "-u", "reader", "-p", "secret"]).flags;
    expect([repository.string("username"), repository.string("password")]).toEqual(["reader", "secret"]);
    expect(usageError(() => parse(["repository", "list", "--admin-key", "k"])).message).toContain("unknown flag --admin-key");
  });

  it("answers --help for a command, a group and the program", () => {
    expect(parseCommandLine(["scope-map", "create", "--help"], COMMANDS)).toMatchObject({ kind: "help", path: ["scope-map", "create"], command: { path: ["scope-map", "create"] } });
    expect(parseCommandLine(["connected-registry", "-h"], COMMANDS)).toEqual({ kind: "help", path: ["connected-registry"] });
    expect(parseCommandLine([], COMMANDS)).toEqual({ kind: "help", path: [] });
    const help = commandHelp(COMMANDS.find((c) => c.path.join(" ") === "scope-map create")!);
    expect(help).toContain("usage: registry-admin scope-map create --name NAME [--repository REPOSITORY ACTION...] [--gateway CONNECTED_REGISTRY ACTION...] [--description TEXT]");
    expect(help).toMatch(/--endpoint URL\s+.*\(or env REGISTRY_ENDPOINT\)/);
    expect(groupHelp(COMMANDS, [])).toContain("Exit codes: 0 ok, 1 refused by the API, 2 usage error, 3 endpoint unreachable.");
    expect(groupHelp(COMMANDS, ["token"])).toMatch(/^ {2}token credential generate {2}/m);
  });

  it("parses images and endpoints", () => {
    expect(parseImage("hello-world:latest", "c")).toEqual({ repository: "hello-world", reference: "latest", byDigest: false });
    expect(parseImage("app/web@sha256:abc", "c")).toEqual({ repository: "app/web", reference: "sha256:abc", byDigest: true });
    expect(usageError(() => parseImage("hello-world", "c")).message).toBe('--image must be <repository>:<tag> or <repository>@<digest>, not "hello-world"');
    expect(normalizeEndpoint("myregistry.example.com/")).toBe("https://myregistry.example.com");
    expect(normalizeEndpoint("http://127.0.0.1:5000")).toBe("http://127.0.0.1:5000");
    expect(nextLink('</v2/_catalog?n=2&last=b>; rel="next"')).toBe("/v2/_catalog?n=2&last=b");
    expect(nextLink('<https://r.example/v2/x/tags/list?n=1&last=a>; rel="next"')).toBe("/v2/x/tags/list?n=1&last=a");
    expect(nextLink(null)).toBeUndefined();
  });
});

describe("admin CLI tables", () => {
  it("aligns columns under a row of dashes, two spaces apart, without trailing blanks", () => {
    const rows = [
      { name: "_repositories_pull", type: "SystemDefined", description: "Can pull" },
      { name: "hello-pull", type: "UserDefined", description: null },
    ];
    const text = renderTable(
      [
        { header: "NAME", value: (r: (typeof rows)[number]) => r.name },
        { header: "TYPE", value: (r) => r.type },
        { header: "DESCRIPTION", value: (r) => r.description },
      ],
      rows,
    );
    expect(text).toBe(
      [
        "NAME                TYPE           DESCRIPTION",
        "------------------  -------------  -----------",
        "_repositories_pull  SystemDefined  Can pull",
        "hello-pull          UserDefined",
        "",
      ].join("\n"),
    );
  });

  it("prints the header and dashes for an empty list", () => {
    expect(renderTable([{ header: "TAG", value: (t: string) => t }], [])).toBe("TAG\n---\n");
  });

  it("renders cells: lists joined, nothing for null, objects as JSON, one line", () => {
    expect(cellText(["a", "b"])).toBe("a, b");
    expect(cellText(null)).toBe("");
    expect(cellText(undefined)).toBe("");
    expect(cellText({ status: "Active" })).toBe('{"status":"Active"}');
    expect(cellText("two\n  lines")).toBe("two lines");
    expect(cellText(3)).toBe("3");
  });

  it("shows one item as names and values, a list one element per line", () => {
    expect(
      renderDetails([
        ["Name", "hello-pull"],
        ["Actions", ["repositories/hello-world/content/read", "repositories/hello-world/metadata/read"]],
        ["Description", ""],
        ["Client tokens", []],
      ]),
    ).toBe(
      [
        "Name           hello-pull",
        "Actions        repositories/hello-world/content/read",
        "               repositories/hello-world/metadata/read",
        "Description",
        "Client tokens",
        "",
      ].join("\n"),
    );
  });
});

describe("admin CLI import progress", () => {
  it("measures by bytes, then by blobs, and is done when every blob is copied or skipped", () => {
    expect(fractionDone({})).toBeUndefined();
    expect(fractionDone({ bytesCopied: 0, bytesTotal: 0, blobsCopied: 0, blobsTotal: 0 })).toBeUndefined();
    expect(fractionDone({ bytesCopied: 512, bytesTotal: 2048, blobsCopied: 0, blobsTotal: 3 })).toBe(0.25);
    expect(fractionDone({ blobsCopied: 1, blobsTotal: 4 })).toBe(0.25);
    // Skipped blobs copy no bytes but count as done.
    expect(fractionDone({ bytesCopied: 0, bytesTotal: 4096, blobsCopied: 0, blobsSkipped: 2, blobsTotal: 2 })).toBe(1);
    expect(progressText({ bytesCopied: 1048576, bytesTotal: 209715200, blobsCopied: 1, blobsTotal: 9, blobsSkipped: 2 })).toBe("1.0 MiB / 200.0 MiB, 1/9 blobs (2 already here)");
    expect(progressText({})).toBe("resolving the source");
  });

  it("draws a bar of steady width that fits the terminal", () => {
    const progress = { bytesCopied: 45, bytesTotal: 100, blobsCopied: 1, blobsTotal: 3 };
    expect(progressBar("importing a:b", progress, 120)).toBe(`importing a:b [${"=".repeat(14)}>${" ".repeat(15)}]  45% 45 B / 100 B, 1/3 blobs`);
    expect(progressBar("importing a:b", { ...progress, bytesCopied: 100, blobsCopied: 3 }, 120)).toBe(`importing a:b [${"=".repeat(30)}] 100% 100 B / 100 B, 3/3 blobs`);
    expect(progressBar("importing a:b", {}, 120)).toBe(`importing a:b [${" ".repeat(30)}]  ... resolving the source`);
    expect(progressBar("importing a:b", progress, 40).length).toBe(39);
  });

  it("redraws one line on a terminal, and writes a line per change otherwise", () => {
    const tty = { text: "", isTTY: true, columns: 100, write(s: string) { this.text += s; } };
    const bar = progressReporter(tty, "importing a:b");
    bar.update({ bytesCopied: 1, bytesTotal: 2, blobsTotal: 1 });
    bar.update({ bytesCopied: 2, bytesTotal: 2, blobsCopied: 1, blobsTotal: 1 });
    bar.finish(true);
    expect(tty.text.split("\r\x1b[2K")).toHaveLength(3);
    expect(tty.text.endsWith("100% 2 B / 2 B, 1/1 blobs\n")).toBe(true);

    const failed = { text: "", isTTY: true, write(s: string) { this.text += s; } };
    const cleared = progressReporter(failed, "importing a:b");
    cleared.update({});
    cleared.finish(false);
    expect(failed.text.endsWith("\r\x1b[2K")).toBe(true);

    const pipe = { text: "", write(s: string) { this.text += s; } };
    const lines = progressReporter(pipe, "importing a:b");
    lines.update({});
    lines.update({});
    lines.update({ bytesCopied: 1, bytesTotal: 2, blobsTotal: 1 });
    lines.finish(true);
    expect(pipe.text).toBe("importing a:b: resolving the source\nimporting a:b: 50% 1 B / 2 B, 0/1 blobs\n");
  });
});
