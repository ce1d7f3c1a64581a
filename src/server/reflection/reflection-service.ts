import { create, fromBinary, toBinary, type DescService } from "@bufbuild/protobuf";
import { Code, type ConnectRouter } from "@connectrpc/connect";
import * as v1 from "../../../gen/grpc/reflection/v1/reflection_pb.js";
import * as v1alpha from "../../../gen/grpc/reflection/v1alpha/reflection_pb.js";
import { DescriptorSet } from "./descriptor-set.js";

/** What reflection describes: the services the node serves, read when a request comes (so a service mounted later is included). */
export type ServedServices = () => readonly DescService[];

/**
 * Answers one reflection request (grpc.reflection.v1): list_services,
 * file_by_filename and file_containing_symbol (each file with its transitive
 * imports), and the extension queries (Roster's files declare no
 * extensions: a known type has none, anything else is NOT_FOUND).
 */
export function answerReflection(req: v1.ServerReflectionRequest, services: readonly DescService[], files: DescriptorSet): v1.ServerReflectionResponse {
  const reply = (r: v1.ServerReflectionResponse["messageResponse"]) => create(v1.ServerReflectionResponseSchema, { validHost: req.host, originalRequest: req, messageResponse: r });
  const filesOr = (list: Uint8Array[] | undefined, what: string) =>
    list === undefined ? notFound(what) : reply({ case: "fileDescriptorResponse", value: create(v1.FileDescriptorResponseSchema, { fileDescriptorProto: list }) });
  const notFound = (what: string) => reply({ case: "errorResponse", value: create(v1.ErrorResponseSchema, { errorCode: Code.NotFound, errorMessage: `${what} not found` }) });
  const m = req.messageRequest;
  switch (m.case) {
    case "listServices":
      return reply({
        case: "listServicesResponse",
        value: create(v1.ListServiceResponseSchema, { service: [...new Set(services.map((s) => s.typeName))].sort().map((name) => create(v1.ServiceResponseSchema, { name })) }),
      });
    case "fileByFilename":
      return filesOr(files.byFilename(m.value), `file ${m.value}`);
    case "fileContainingSymbol":
      return filesOr(files.bySymbol(m.value), `symbol ${m.value}`);
    case "fileContainingExtension":
      return notFound(`extension ${m.value.extensionNumber} of ${m.value.containingType}`);
    case "allExtensionNumbersOfType":
      return files.hasMessage(m.value)
        ? reply({ case: "allExtensionNumbersResponse", value: create(v1.ExtensionNumberResponseSchema, { baseTypeName: m.value, extensionNumber: [] }) })
        : notFound(`type ${m.value}`);
    default:
      return reply({ case: "errorResponse", value: create(v1.ErrorResponseSchema, { errorCode: Code.InvalidArgument, errorMessage: "the request names no query" }) });
  }
}

/**
 * Serves server reflection, both grpc.reflection.v1 and v1alpha (grpcurl and
 * `buf curl` try v1 first; Postman and older tools use v1alpha), about every
 * service the node serves, reflection included. The two versions have the
 * same messages under different package names, so v1alpha is answered by the
 * v1 code through the wire format.
 */
export function registerReflectionService(router: ConnectRouter, served: ServedServices): void {
  let cache: { services: readonly DescService[]; files: DescriptorSet } | undefined;
  const files = (services: readonly DescService[]) => {
    if (cache?.services.length !== services.length) cache = { services, files: new DescriptorSet(services) };
    return cache.files;
  };
  router.service(v1.ServerReflection, {
    async *serverReflectionInfo(reqs) {
      for await (const req of reqs) {
        const services = served();
        yield answerReflection(req, services, files(services));
      }
    },
  });
  router.service(v1alpha.ServerReflection, {
    async *serverReflectionInfo(reqs) {
      for await (const req of reqs) {
        const services = served();
        const answer = answerReflection(fromBinary(v1.ServerReflectionRequestSchema, toBinary(v1alpha.ServerReflectionRequestSchema, req)), services, files(services));
        yield fromBinary(v1alpha.ServerReflectionResponseSchema, toBinary(v1.ServerReflectionResponseSchema, answer));
      }
    },
  });
}
