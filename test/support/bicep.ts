/**
 * Reading Bicep without the Bicep compiler (it downloads itself at install time, so it cannot
 * be installed here): the tree-sitter-bicep grammar, compiled to WebAssembly and run by
 * web-tree-sitter, gives a syntax tree. On top of it:
 *
 * - `findSyntaxErrors`: ERROR and MISSING nodes, named by file, line and column;
 * - `readBicepFile`: the declarations of a file (params, vars, resources, modules, outputs);
 * - `evaluate`: a small evaluator for the constant part of Bicep expressions (literals,
 *   interpolation, params with their caller's arguments or defaults, vars, a few functions);
 *   anything that depends on Azure (resource ids, endpoints, uniqueString) is `Unknown`;
 * - `collectDeployment`: every resource of an entry file and the modules it instantiates, with
 *   module parameters bound to the caller's arguments;
 * - `checkReferences`: what the compiler would refuse first: undeclared identifiers, module
 *   paths that do not exist, module arguments the module does not declare, required module
 *   parameters left out, module outputs that do not exist, and .bicepparam files that set
 *   parameters their template lacks.
 */
import { createRequire } from "node:module";
import { dirname, join, normalize } from "node:path";
import { Language, Parser, type Node } from "web-tree-sitter";

let parserReady: Promise<Parser> | undefined;

/** One parser for the process: the grammar's WebAssembly module is loaded once. */
export function bicepParser(): Promise<Parser> {
  parserReady ??= (async () => {
    await Parser.init();
    const require = createRequire(import.meta.url);
    const language = await Language.load(require.resolve("tree-sitter-bicep/tree-sitter-bicep.wasm"));
    const parser = new Parser();
    parser.setLanguage(language);
    return parser;
  })();
  return parserReady;
}

/**
 * The grammar knows `.bicep` only: a `.bicepparam` file's `param name = value` has no type,
 * which it refuses. Giving each such param a type (on the same line) makes the file Bicep
 * without moving any line, so errors still point at the right one.
 */
export function asParsableBicep(path: string, source: string): string {
  if (!path.endsWith(".bicepparam")) return source;
  return source.replace(/^(\s*param\s+[A-Za-z_][A-Za-z0-9_]*)(?=\s*=)/gm, "$1 object");
}

export async function parseBicep(path: string, source: string): Promise<Node> {
  const tree = (await bicepParser()).parse(asParsableBicep(path, source));
  if (!tree) throw new Error(`${path}: the parser returned no tree`);
  return tree.rootNode;
}

export interface BicepSyntaxError {
  file: string;
  line: number;
  column: number;
  message: string;
}

/** ERROR and MISSING nodes of one file, outermost first; empty when it parses cleanly. */
export async function findSyntaxErrors(path: string, source: string): Promise<BicepSyntaxError[]> {
  const root = await parseBicep(path, source);
  const errors: BicepSyntaxError[] = [];
  const visit = (node: Node): void => {
    if (node.isMissing || node.isError) {
      const { row, column } = node.startPosition;
      const near = node.text.split("\n")[0]?.slice(0, 40) ?? "";
      const message = node.isMissing ? `missing ${node.type}` : `syntax error at ${JSON.stringify(near)}`;
      errors.push({ file: path, line: row + 1, column: column + 1, message: `${path}:${row + 1}:${column + 1}: ${message}` });
      if (node.isError) return;
    }
    for (const child of node.children) visit(child);
  };
  if (root.hasError) visit(root);
  return errors;
}

// ---------------------------------------------------------------------------------------------
// Declarations

export interface ResourceDeclaration {
  symbol: string;
  type: string;
  apiVersion: string;
  existing: boolean;
  /** `= if (...) {...}`: deployed only when the condition holds. */
  condition: Node | undefined;
  /** `= [for ...]`: one resource per item. */
  loop: boolean;
  body: Node | undefined;
  line: number;
}

export interface ModuleDeclaration {
  symbol: string;
  /** As written, relative to the declaring file. */
  path: string;
  condition: Node | undefined;
  loop: boolean;
  body: Node | undefined;
  line: number;
}

export interface BicepFile {
  path: string;
  root: Node;
  using: string | undefined;
  params: Map<string, { default: Node | undefined; line: number }>;
  vars: Map<string, Node>;
  resources: Map<string, ResourceDeclaration>;
  modules: Map<string, ModuleDeclaration>;
  outputs: Map<string, Node>;
}

export async function readBicepFile(path: string, source: string): Promise<BicepFile> {
  const root = await parseBicep(path, source);
  const file: BicepFile = {
    path,
    root,
    using: undefined,
    params: new Map(),
    vars: new Map(),
    resources: new Map(),
    modules: new Map(),
    outputs: new Map(),
  };
  for (const statement of root.namedChildren) {
    const named = meaningful(statement);
    const symbol = named[0]?.type === "identifier" ? named[0].text : undefined;
    const line = statement.startPosition.row + 1;
    switch (statement.type) {
      case "using_statement":
        file.using = named[0] ? stringLiteral(named[0]) : undefined;
        break;
      case "parameter_declaration":
        if (symbol) file.params.set(symbol, { default: named[2], line });
        break;
      case "variable_declaration":
        if (symbol && named[1]) file.vars.set(symbol, named[1]);
        break;
      case "output_declaration":
        if (symbol && named[2]) file.outputs.set(symbol, named[2]);
        break;
      case "resource_declaration":
      case "module_declaration": {
        if (!symbol || !named[1]) break;
        const target = stringLiteral(named[1]) ?? "";
        const { body, condition, loop } = declarationBody(named[2]);
        if (statement.type === "module_declaration") {
          file.modules.set(symbol, { symbol, path: target, condition, loop, body, line });
        } else {
          const [type = "", apiVersion = ""] = target.split("@");
          const existing = statement.children.some((child) => child.type === "existing");
          file.resources.set(symbol, { symbol, type, apiVersion, existing, condition, loop, body, line });
        }
        break;
      }
    }
  }
  return file;
}

function declarationBody(node: Node | undefined): { body: Node | undefined; condition: Node | undefined; loop: boolean } {
  if (!node) return { body: undefined, condition: undefined, loop: false };
  if (node.type === "if_statement") {
    const [condition, body] = meaningful(node);
    return { body, condition, loop: false };
  }
  if (node.type === "for_statement") return { body: node.childForFieldName("body") ?? undefined, condition: undefined, loop: true };
  return { body: node, condition: undefined, loop: false };
}

/** Named children without comments and decorators. */
export function meaningful(node: Node): Node[] {
  return node.namedChildren.filter((child) => !["comment", "diagnostic_comment", "decorators"].includes(child.type));
}

/** The value of a string without interpolation, else undefined. */
export function stringLiteral(node: Node): string | undefined {
  if (node.type !== "string") return undefined;
  if (node.namedChildren.some((child) => child.type === "interpolation")) return undefined;
  return stringParts(node, () => "").join("");
}

function stringParts(node: Node, interpolate: (expression: Node) => string): string[] {
  const text = node.text;
  if (text.startsWith("'''")) return [text.slice(3, -3).replace(/^\r?\n/, "")];
  return node.namedChildren.map((part) => {
    if (part.type === "string_content") return part.text;
    if (part.type === "escape_sequence") return unescape(part.text);
    const expression = meaningful(part)[0];
    return expression ? interpolate(expression) : "";
  });
}

function unescape(sequence: string): string {
  const simple: Record<string, string> = { "\\\\": "\\", "\\'": "'", "\\n": "\n", "\\r": "\r", "\\t": "\t", "\\$": "$" };
  const known = simple[sequence];
  if (known !== undefined) return known;
  const unicode = /^\\u\{([0-9a-fA-F]+)\}$/.exec(sequence);
  return unicode?.[1] ? String.fromCodePoint(parseInt(unicode[1], 16)) : sequence;
}

/** The key of an object property: an identifier or a (constant) string. */
export function propertyKey(property: Node): string | undefined {
  const key = meaningful(property)[0];
  if (!key) return undefined;
  if (key.type === "identifier") return key.text;
  if (key.type === "compatible_identifier") return key.text;
  return stringLiteral(key);
}

export function propertyValue(property: Node): Node | undefined {
  const parts = meaningful(property);
  return parts.length > 1 ? parts[parts.length - 1] : undefined;
}

/** `{ a: { b: x } }` and path ["a", "b"] give the node of x. */
export function objectPath(object: Node | undefined, path: readonly string[]): Node | undefined {
  let current = object;
  for (const key of path) {
    if (!current || current.type !== "object") return undefined;
    const property: Node | undefined = meaningful(current).find((child) => child.type === "object_property" && propertyKey(child) === key);
    current = property ? propertyValue(property) : undefined;
  }
  return current;
}

// ---------------------------------------------------------------------------------------------
// Evaluation

/** A value the evaluator cannot know before deployment (an endpoint, an id, a hash). */
export class Unknown {
  constructor(
    /** The Bicep text, or for a string the string with its unknown parts left as ${...}. */
    readonly expression: string,
    /** A string whose known parts are filled in. */
    readonly template = false,
  ) {}

  toString(): string {
    return this.expression;
  }
}

/** A symbolic reference to a resource of the same module instance, e.g. `parent: database`. */
export class ResourceRef {
  constructor(
    readonly scope: Scope,
    readonly symbol: string,
  ) {}
}

/** A symbolic reference to a module instance, e.g. `storage` in `storage.outputs.name`. */
export class ModuleRef {
  constructor(
    readonly scope: Scope,
    readonly symbol: string,
  ) {}
}

export type Value = string | number | boolean | null | Value[] | { [key: string]: Value } | Unknown | ResourceRef | ModuleRef;

export interface Scope {
  file: BicepFile;
  /** Every file of the deployment by normalized path, for modules. */
  files: ReadonlyMap<string, BicepFile>;
  /** Values of the entry file's parameters (from a .bicepparam file). */
  args: ReadonlyMap<string, Value>;
  /** The module's caller: its scope and the argument expressions, evaluated when needed. */
  caller?: { scope: Scope; args: ReadonlyMap<string, Node> };
  /** Loop variables and lambda parameters. */
  locals?: ReadonlyMap<string, Value>;
  /** Names of module instances, outermost first, e.g. ["storage"]. */
  instance: readonly string[];
}

const isPlainObject = (value: Value): value is { [key: string]: Value } =>
  typeof value === "object" &&
  value !== null &&
  !Array.isArray(value) &&
  !(value instanceof Unknown) &&
  !(value instanceof ResourceRef) &&
  !(value instanceof ModuleRef);

export function evaluate(node: Node | undefined, scope: Scope, seen: ReadonlySet<string> = new Set()): Value {
  if (!node) return new Unknown("");
  const unknown = new Unknown(node.text);
  switch (node.type) {
    case "string": {
      // Partly known: the Unknown keeps the known parts, e.g. "https://${account.name}.vault.azure.net".
      let known = true;
      const parts = stringParts(node, (expression) => {
        const value = evaluate(expression, scope, seen);
        if (typeof value === "string" || typeof value === "number" || typeof value === "boolean") return String(value);
        known = false;
        return value instanceof Unknown && value.template ? value.expression : `\${${expression.text}}`;
      });
      return known ? parts.join("") : new Unknown(parts.join(""), true);
    }
    case "number":
      return Number(node.text);
    case "boolean":
      return node.text === "true";
    case "null":
      return null;
    case "parenthesized_expression":
      return evaluate(meaningful(node)[0], scope, seen);
    case "unary_expression": {
      const argument = evaluate(node.childForFieldName("argument") ?? undefined, scope, seen);
      const operator = node.childForFieldName("operator")?.text ?? node.text.trim()[0];
      if (operator === "-" && typeof argument === "number") return -argument;
      if (operator === "!" && typeof argument === "boolean") return !argument;
      return unknown;
    }
    case "array":
      return meaningful(node).map((item) => evaluate(item, scope, seen));
    case "object": {
      const result: { [key: string]: Value } = {};
      for (const property of meaningful(node)) {
        if (property.type !== "object_property") continue;
        const key = propertyKey(property);
        if (key !== undefined) result[key] = evaluate(propertyValue(property), scope, seen);
      }
      return result;
    }
    case "identifier":
      return resolveIdentifier(node.text, scope, seen) ?? unknown;
    case "ternary_expression": {
      const condition = evaluate(node.childForFieldName("condition") ?? undefined, scope, seen);
      if (typeof condition !== "boolean") return unknown;
      return evaluate(node.childForFieldName(condition ? "consequence" : "alternative") ?? undefined, scope, seen);
    }
    case "binary_expression": {
      const left = evaluate(node.childForFieldName("left") ?? undefined, scope, seen);
      const right = evaluate(node.childForFieldName("right") ?? undefined, scope, seen);
      return binary(node.childForFieldName("operator")?.text ?? "", left, right) ?? unknown;
    }
    case "member_expression": {
      const objectNode = node.childForFieldName("object") ?? undefined;
      const property = node.childForFieldName("property")?.text ?? "";
      if (objectNode?.type === "member_expression" && objectNode.childForFieldName("property")?.text === "outputs") {
        const module = evaluate(objectNode.childForFieldName("object") ?? undefined, scope, seen);
        return module instanceof ModuleRef ? moduleOutput(module, property, seen) : unknown;
      }
      const object = evaluate(objectNode, scope, seen);
      if (isPlainObject(object) && property in object) return object[property] ?? null;
      if (object instanceof ResourceRef && property === "name") {
        const declaration = object.scope.file.resources.get(object.symbol);
        return evaluate(objectPath(declaration?.body, ["name"]), object.scope, seen);
      }
      return unknown;
    }
    case "subscript_expression": {
      const object = evaluate(node.childForFieldName("object") ?? undefined, scope, seen);
      const index = evaluate(node.childForFieldName("index") ?? undefined, scope, seen);
      if (Array.isArray(object) && typeof index === "number") return object[index] ?? unknown;
      if (isPlainObject(object) && typeof index === "string") return object[index] ?? unknown;
      return unknown;
    }
    case "call_expression":
      return call(node, scope, seen) ?? unknown;
    default:
      return unknown;
  }
}

function resolveIdentifier(name: string, scope: Scope, seen: ReadonlySet<string>): Value | undefined {
  const local = scope.locals?.get(name);
  if (local !== undefined) return local;
  const key = `${scope.instance.join("/")}:${name}`;
  if (seen.has(key)) return undefined;
  const next = new Set(seen).add(key);
  if (scope.file.params.has(name)) {
    const argument = scope.caller?.args.get(name);
    if (argument && scope.caller) return evaluate(argument, scope.caller.scope, next);
    const given = scope.args.get(name);
    if (given !== undefined) return given;
    const fallback = scope.file.params.get(name)?.default;
    return fallback ? evaluate(fallback, { ...scope, locals: undefined }, next) : undefined;
  }
  const variable = scope.file.vars.get(name);
  if (variable) return evaluate(variable, { ...scope, locals: undefined }, next);
  if (scope.file.resources.has(name)) return new ResourceRef(scope, name);
  if (scope.file.modules.has(name)) return new ModuleRef(scope, name);
  return undefined;
}

function moduleOutput(module: ModuleRef, output: string, seen: ReadonlySet<string>): Value {
  const instance = instantiate(module.scope, module.symbol);
  const expression = instance?.file.outputs.get(output);
  return instance && expression ? evaluate(expression, instance, seen) : new Unknown(`${module.symbol}.outputs.${output}`);
}

/** The scope of a module's body as the calling scope instantiates it; undefined if its file is missing. */
export function instantiate(scope: Scope, symbol: string): Scope | undefined {
  const module = scope.file.modules.get(symbol);
  const file = module ? scope.files.get(modulePath(scope.file.path, module.path)) : undefined;
  if (!module || !file) return undefined;
  const args = new Map<string, Node>();
  const params = objectPath(module.body, ["params"]);
  for (const property of params ? meaningful(params) : []) {
    const key = property.type === "object_property" ? propertyKey(property) : undefined;
    const value = property.type === "object_property" ? propertyValue(property) : undefined;
    if (key && value) args.set(key, value);
  }
  return { file, files: scope.files, args: new Map(), caller: { scope, args }, instance: [...scope.instance, symbol] };
}

function binary(operator: string, left: Value, right: Value): Value | undefined {
  const comparable = (value: Value): value is string | number | boolean | null =>
    value === null || ["string", "number", "boolean"].includes(typeof value);
  if (!comparable(left) || !comparable(right)) return undefined;
  switch (operator) {
    case "==":
      return left === right;
    case "!=":
      return left !== right;
    case "&&":
      return typeof left === "boolean" && typeof right === "boolean" ? left && right : undefined;
    case "||":
      return typeof left === "boolean" && typeof right === "boolean" ? left || right : undefined;
    case ">":
    case "<":
    case ">=":
    case "<=":
      if (typeof left !== "number" || typeof right !== "number") return undefined;
      return operator === ">" ? left > right : operator === "<" ? left < right : operator === ">=" ? left >= right : left <= right;
    case "+":
      return typeof left === "number" && typeof right === "number" ? left + right : undefined;
    case "??":
      return left ?? right;
    default:
      return undefined;
  }
}

function call(node: Node, scope: Scope, seen: ReadonlySet<string>): Value | undefined {
  const name = node.childForFieldName("function")?.text.replace(/^(sys|az)\./, "");
  const argumentList = node.childForFieldName("arguments");
  const args = argumentList ? meaningful(argumentList).map((argument) => evaluate(argument, scope, seen)) : [];
  if (args.some((argument) => argument instanceof Unknown)) return undefined;
  const [first, second, third] = args;
  switch (name) {
    case "concat":
      if (args.every(Array.isArray)) return (args as Value[][]).flat();
      if (args.every((argument) => typeof argument === "string")) return args.join("");
      return undefined;
    case "union":
      return args.every(isPlainObject) ? Object.assign({}, ...args) : undefined;
    case "empty":
      if (first === null || first === "") return true;
      if (Array.isArray(first)) return first.length === 0;
      if (first !== undefined && isPlainObject(first)) return Object.keys(first).length === 0;
      return typeof first === "string" ? false : undefined;
    case "string":
      return typeof first === "number" || typeof first === "boolean" || typeof first === "string" ? String(first) : undefined;
    case "toLower":
      return typeof first === "string" ? first.toLowerCase() : undefined;
    case "toUpper":
      return typeof first === "string" ? first.toUpperCase() : undefined;
    case "take":
      return typeof first === "string" && typeof second === "number" ? first.slice(0, second) : undefined;
    case "replace":
      return typeof first === "string" && typeof second === "string" && typeof third === "string" ? first.split(second).join(third) : undefined;
    case "contains":
      if (typeof first === "string" && typeof second === "string") return first.includes(second);
      if (Array.isArray(first)) return second !== undefined && first.includes(second);
      if (first !== undefined && isPlainObject(first) && typeof second === "string") return second in first;
      return undefined;
    default:
      return undefined;
  }
}

// ---------------------------------------------------------------------------------------------
// A whole deployment

export interface DeployedResource {
  /** Module instances from the entry file down, then the resource's symbol: "storage/importQueue". */
  id: string;
  file: string;
  line: number;
  type: string;
  declaration: ResourceDeclaration;
  scope: Scope;
  /** Deployed only under a condition (of the resource or of a module it is in). */
  conditional: boolean;
}

export type Sources = ReadonlyMap<string, string>;

/**
 * Every resource the entry file deploys, through its modules (paths relative to the declaring
 * file, as Bicep resolves them). `entryArgs` binds the entry file's parameters, e.g. from a
 * .bicepparam file.
 */
export async function collectDeployment(sources: Sources, entry: string, entryArgs: ReadonlyMap<string, Value> = new Map()): Promise<DeployedResource[]> {
  const files = await readAll(sources);
  const deployed: DeployedResource[] = [];
  const visit = (scope: Scope, conditional: boolean): void => {
    for (const declaration of scope.file.resources.values()) {
      if (declaration.existing) continue;
      deployed.push({
        id: [...scope.instance, declaration.symbol].join("/"),
        file: scope.file.path,
        line: declaration.line,
        type: declaration.type,
        declaration,
        scope,
        conditional: conditional || declaration.condition !== undefined || declaration.loop,
      });
    }
    for (const module of scope.file.modules.values()) {
      const instance = instantiate(scope, module.symbol);
      if (instance) visit(instance, conditional || module.condition !== undefined || module.loop);
    }
  };
  const root = files.get(normalize(entry));
  if (!root) throw new Error(`${entry} is not among the Bicep sources`);
  visit({ file: root, files, args: entryArgs, instance: [] }, false);
  return deployed;
}

/** The parameters a .bicepparam file sets, evaluated (readEnvironmentVariable and such are Unknown). */
export async function readParameterFile(path: string, source: string): Promise<{ template: string | undefined; args: Map<string, Value> }> {
  const file = await readBicepFile(path, source);
  const scope: Scope = { file, files: new Map([[normalize(path), file]]), args: new Map(), instance: [] };
  const args = new Map<string, Value>();
  for (const [name, param] of file.params) if (param.default) args.set(name, evaluate(param.default, scope));
  return { template: file.using === undefined ? undefined : modulePath(path, file.using), args };
}

export function modulePath(from: string, path: string): string {
  return normalize(join(dirname(from), path));
}

async function readAll(sources: Sources): Promise<Map<string, BicepFile>> {
  const files = new Map<string, BicepFile>();
  for (const [path, source] of sources) files.set(normalize(path), await readBicepFile(path, source));
  return files;
}

/**
 * Follows a parameter back through module calls to the expression that gives it its value,
 * so a syntactic question ("which settings may this array hold?") can cross module boundaries.
 */
export function sourceOf(name: string, scope: Scope): { node: Node; scope: Scope } | undefined {
  const variable = scope.file.vars.get(name);
  if (variable) return { node: variable, scope };
  if (!scope.file.params.has(name)) return undefined;
  const argument = scope.caller?.args.get(name);
  if (argument && scope.caller) return { node: argument, scope: scope.caller.scope };
  const fallback = scope.file.params.get(name)?.default;
  return fallback ? { node: fallback, scope } : undefined;
}

// ---------------------------------------------------------------------------------------------
// What the compiler would refuse first

/** Functions and namespaces Bicep provides, which identifiers in call position may name. */
const NAMESPACES = new Set(["az", "sys"]);

export async function checkReferences(sources: Sources): Promise<string[]> {
  const files = await readAll(sources);
  const problems: string[] = [];
  for (const file of files.values()) {
    const declared = new Set([...file.params.keys(), ...file.vars.keys(), ...file.resources.keys(), ...file.modules.keys(), ...NAMESPACES]);
    for (const problem of undeclaredIdentifiers(file, declared)) problems.push(problem);

    if (file.path.endsWith(".bicepparam")) {
      const template = file.using === undefined ? undefined : files.get(modulePath(file.path, file.using));
      if (!template) {
        problems.push(`${file.path}: 'using ${file.using ?? ""}' names no Bicep file here`);
        continue;
      }
      for (const [name, param] of file.params) {
        if (!template.params.has(name)) problems.push(`${file.path}:${param.line}: param ${name} is not declared in ${template.path}`);
      }
      for (const [name, param] of template.params) {
        if (!param.default && !file.params.has(name)) problems.push(`${file.path}: required param ${name} of ${template.path} is not set`);
      }
      continue;
    }

    for (const module of file.modules.values()) {
      const target = files.get(modulePath(file.path, module.path));
      if (!target) {
        problems.push(`${file.path}:${module.line}: module ${module.symbol} points at ${module.path}, which does not exist`);
        continue;
      }
      const params = objectPath(module.body, ["params"]);
      const passed = new Set<string>();
      for (const property of params ? meaningful(params) : []) {
        const key = property.type === "object_property" ? propertyKey(property) : undefined;
        if (!key) continue;
        passed.add(key);
        if (!target.params.has(key)) problems.push(`${file.path}:${property.startPosition.row + 1}: module ${module.symbol} passes ${key}, which ${target.path} does not declare`);
      }
      for (const [name, param] of target.params) {
        if (!param.default && !passed.has(name)) problems.push(`${file.path}:${module.line}: module ${module.symbol} leaves out ${name}, which ${target.path} requires`);
      }
    }
    for (const problem of moduleOutputReferences(file, files)) problems.push(problem);
  }
  return problems;
}

function undeclaredIdentifiers(file: BicepFile, declared: ReadonlySet<string>): string[] {
  const problems: string[] = [];
  const visit = (node: Node, locals: ReadonlySet<string>): void => {
    switch (node.type) {
      case "comment":
      case "diagnostic_comment":
      case "decorators":
      case "type":
      case "property_identifier":
      case "using_statement":
        return;
      case "identifier":
        if (!declared.has(node.text) && !locals.has(node.text)) {
          problems.push(`${file.path}:${node.startPosition.row + 1}:${node.startPosition.column + 1}: '${node.text}' is not declared`);
        }
        return;
      case "object_property": {
        // The key is a name, not a reference.
        const [, ...rest] = meaningful(node);
        for (const child of rest) visit(child, locals);
        return;
      }
      case "call_expression": {
        const callee = node.childForFieldName("function");
        // A built-in function, or a namespace's (sys.concat): only the namespace is a reference.
        if (callee && callee.type === "member_expression") visit(callee.childForFieldName("object") ?? callee, locals);
        const args = node.childForFieldName("arguments");
        if (args) visit(args, locals);
        return;
      }
      case "member_expression":
        visit(node.childForFieldName("object") ?? node, locals);
        return;
      case "for_statement": {
        // `for item in items:` (the grammar calls `item` the initializer) or `for (item, index) in items:`.
        const names = new Set(locals);
        const variable = node.childForFieldName("initializer");
        const body = node.childForFieldName("body");
        if (variable) names.add(variable.text);
        for (const child of meaningful(node)) {
          if (child.type === "for_loop_parameters") for (const parameter of child.namedChildren) names.add(parameter.text);
          else if (child.id !== variable?.id && child.id !== body?.id) visit(child, locals);
        }
        if (body) visit(body, names);
        return;
      }
      case "lambda_expression": {
        const parts = meaningful(node);
        const body = parts[parts.length - 1];
        const names = new Set(locals);
        for (const part of parts.slice(0, -1)) for (const name of part.text.replace(/[()]/g, "").split(",")) names.add(name.trim());
        if (body) visit(body, names);
        return;
      }
      case "parameter_declaration":
      case "variable_declaration":
      case "output_declaration":
      case "resource_declaration":
      case "module_declaration": {
        // The first identifier is the symbol being declared.
        const [, ...rest] = meaningful(node);
        for (const child of rest) visit(child, locals);
        return;
      }
      default:
        for (const child of node.namedChildren) visit(child, locals);
    }
  };
  visit(file.root, new Set());
  return problems;
}

/** `storage.outputs.blobEndpoint` must name an output that modules/storage.bicep declares. */
function moduleOutputReferences(file: BicepFile, files: ReadonlyMap<string, BicepFile>): string[] {
  const problems: string[] = [];
  const visit = (node: Node): void => {
    if (node.type === "member_expression") {
      const outputs = node.childForFieldName("object");
      const output = node.childForFieldName("property")?.text;
      if (outputs?.type === "member_expression" && outputs.childForFieldName("property")?.text === "outputs") {
        const symbol = outputs.childForFieldName("object")?.text ?? "";
        const module = file.modules.get(symbol);
        const target = module ? files.get(modulePath(file.path, module.path)) : undefined;
        if (target && output && !target.outputs.has(output)) {
          problems.push(`${file.path}:${node.startPosition.row + 1}: module ${symbol} has no output ${output} (${target.path})`);
        }
      }
    }
    for (const child of node.namedChildren) visit(child);
  };
  visit(file.root);
  return problems;
}
