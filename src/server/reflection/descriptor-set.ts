import { toBinary, type DescFile, type DescService } from "@bufbuild/protobuf";
import { FileDescriptorProtoSchema } from "@bufbuild/protobuf/wkt";

/**
 * The .proto files behind a set of services, as server reflection answers
 * about them: every file that declares one of the services, and every file
 * those import, transitively, each found by name or by a symbol it declares.
 * Built from the descriptors protoc-gen-es embeds in `gen/`, so it is always
 * the schema the server was built with.
 */
export class DescriptorSet {
  readonly #files = new Map<string, DescFile>();
  readonly #symbols = new Map<string, DescFile>();
  readonly #encoded = new Map<DescFile, Uint8Array>();

  constructor(services: readonly DescService[]) {
    for (const s of services) this.#add(s.file);
  }

  /** The file named `name` (e.g. "roster/v1/registry.proto") and its transitive imports, that file first; undefined when unknown. */
  byFilename(name: string): Uint8Array[] | undefined {
    const f = this.#files.get(name);
    return f && this.#withImports(f);
  }

  /**
   * The file declaring a fully qualified symbol (a message, enum, service, or
   * a field, enum value or method of one, e.g. "roster.v1.RegistryService.Watch")
   * and its transitive imports; undefined when unknown.
   */
  bySymbol(symbol: string): Uint8Array[] | undefined {
    const name = symbol.startsWith(".") ? symbol.slice(1) : symbol;
    const f = this.#symbols.get(name) ?? this.#symbols.get(name.slice(0, Math.max(0, name.lastIndexOf("."))));
    return f && this.#withImports(f);
  }

  /** True when `typeName` is a message declared in one of the files. */
  hasMessage(typeName: string): boolean {
    const f = this.#symbols.get(typeName);
    return f !== undefined && f.messages.some(function has(m): boolean {
      return m.typeName === typeName || m.nestedMessages.some(has);
    });
  }

  #add(file: DescFile): void {
    if (this.#files.has(file.name + ".proto")) return;
    this.#files.set(file.name + ".proto", file);
    for (const d of file.dependencies) this.#add(d);
    const addMessage = (m: DescFile["messages"][number]): void => {
      this.#symbols.set(m.typeName, file);
      for (const n of m.nestedMessages) addMessage(n);
      for (const e of m.nestedEnums) this.#symbols.set(e.typeName, file);
      for (const x of m.nestedExtensions) this.#symbols.set(x.typeName, file);
    };
    for (const m of file.messages) addMessage(m);
    for (const e of file.enums) this.#symbols.set(e.typeName, file);
    for (const s of file.services) this.#symbols.set(s.typeName, file);
    for (const x of file.extensions) this.#symbols.set(x.typeName, file);
  }

  /** The file first, then every file it imports, transitively, each once. */
  #withImports(file: DescFile): Uint8Array[] {
    const seen = new Set<DescFile>();
    const out: Uint8Array[] = [];
    const visit = (f: DescFile) => {
      if (seen.has(f)) return;
      seen.add(f);
      out.push(this.#encode(f));
      for (const d of f.dependencies) visit(d);
    };
    visit(file);
    return out;
  }

  #encode(f: DescFile): Uint8Array {
    let b = this.#encoded.get(f);
    if (b === undefined) {
      b = toBinary(FileDescriptorProtoSchema, f.proto);
      this.#encoded.set(f, b);
    }
    return b;
  }
}
