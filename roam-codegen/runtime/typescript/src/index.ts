/**
 * The public surface of the roam TypeScript runtime, and the only module generated bindings
 * import: codecs, typed calls and channels, serving, connections and the WebSocket transport.
 *
 * This module only re-exports; it owns no behaviour. Internals (the sans-IO session, wire
 * messages, framing, untyped channel ends) stay out so they can change without breaking
 * generated code. The TCP and TLS transports are Node-only and are imported from
 * `transport-tcp.js` and `transport-tls.js` directly, so that nothing a browser bundle loads
 * pulls in `node:net` or `node:tls`.
 *
 * @module
 */

// Codecs: the Rust type mapping and the combinators generated codecs compose.
export type { Codec } from "./codec.js";
export {
  MAX_LAZY_DEPTH,
  MAX_ZERO_SIZED_ITEMS,
  array,
  bool,
  byteArray,
  bytes,
  char,
  decode,
  encode,
  f32,
  f64,
  i128,
  i16,
  i32,
  i64,
  i8,
  isize,
  lazy,
  list,
  map,
  nestedOption,
  option,
  pairs,
  result,
  string,
  tuple,
  u128,
  u16,
  u32,
  u64,
  u8,
  unit,
  usize,
} from "./codec.js";
export { DecodeError, EncodeError, Reader, Writer } from "./postcard.js";
export type { DecodeErrorCode, EncodeErrorCode } from "./postcard.js";

// Outcomes and errors.
export type { Err, RoamCall, Settled } from "./call.js";
export { err, isErr, settle, userError } from "./call.js";
export { RoamError, isCancelled } from "./call-error.js";
export type { RoamErrorCode } from "./call-error.js";
export type { RefusedBy, SessionError } from "./errors.js";

// Channels.
export type { Rx, Tx } from "./channel.js";
export { channel } from "./channel.js";

// Calls and serving.
export type {
  CallOptions,
  ChannelKind,
  Context,
  MetadataInit,
  MethodDescriptor,
  Route,
  Served,
  ServiceRoutes,
} from "./service.js";
export { invoke, route, serve } from "./service.js";
export type { MethodSchemaBytes } from "./method-schemas.js";
export type { MetadataValue } from "./wire.js";

// Connections and links.
export { Connection, DEFAULT_RESUMPTION, DEFAULT_RETRY, connect, dial } from "./driver.js";
export type {
  CallResponse,
  ConnectOptions,
  ConnectionState,
  DialOptions,
  Handler,
  HandlerAnswer,
  LinkOpener,
  CallOptions as RawCallOptions,
  Resumption,
  RetryPolicy,
  ServedCall,
  StateChange,
} from "./driver.js";
export { linkPair } from "./link.js";
export type { Link, LinkClosed, LinkReceiver } from "./link.js";
export { dialWebSocket, openWebSocket, webSocketLink } from "./transport-ws.js";
export type {
  DialWebSocketOptions,
  WebSocketConstructor,
  WebSocketLike,
  WebSocketOptions,
} from "./transport-ws.js";

// What generated codecs call besides the combinators.
export { badTag, fieldDefaultsOf, schemaBytes, unknownVariant } from "./generated.js";
export type { FieldDefaults } from "./translate.js";
