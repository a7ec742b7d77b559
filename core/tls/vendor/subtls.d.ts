// The part of subtls's API that core/tls uses, declared by hand for the vendored copy
// (subtls.js, written by `npm run subtls`): subtls's own declarations start with
// `/// <reference types="node" />`, which would bring Node's types into core/, and declare
// much that the library does not use. test/core/tls/vendor.test.ts checks these against the
// published declarations.
export interface RootCertsDatabase {
  index: { offsets: number[]; subjects: Record<string, number> }
  data: Uint8Array
}

export declare class TrustedCert {
  static databaseFromPEM(pem: string): Promise<RootCertsDatabase>
}

export declare class LazyReadFunctionReadQueue {
  constructor(readFn: () => Promise<Uint8Array | undefined>)
  read(bytes: number): Promise<Uint8Array | undefined>
}

export declare function startTls(
  host: string,
  rootCertsDatabase: RootCertsDatabase | string,
  networkRead: (bytes: number) => Promise<Uint8Array | undefined>,
  networkWrite: (data: Uint8Array) => void,
  options?: { useSNI?: boolean; requireServerTlsExtKeyUsage?: boolean; requireDigitalSigKeyUsage?: boolean }
): Promise<{
  readonly read: () => Promise<Uint8Array | undefined>
  readonly write: (data: Uint8Array) => Promise<void>
}>
