import { decode as msgpackDecode, encode as msgpackEncode } from "@msgpack/msgpack";
import type { ClientFrame, ServerFrame } from "./frames.js";

/** The two encodings of `agora.v1`. */
export type Encoding = "json" | "msgpack";

/** The subprotocol name the server knows for each encoding. */
export const SUBPROTOCOLS: Record<Encoding, string> = {
  json: "agora.v1.json",
  msgpack: "agora.v1.msgpack",
};

/** Encodes a client frame: a JSON text frame, or a MessagePack map with string keys. */
export function encodeFrame(frame: ClientFrame, encoding: Encoding): string | Uint8Array {
  if (encoding === "json") return JSON.stringify(frame);
  return msgpackEncode(frame, { ignoreUndefined: true });
}

/** What a WebSocket `message` event may carry (browsers, `ws`, Node's own WebSocket). */
export type WireData = string | ArrayBuffer | ArrayBufferView | ArrayBufferView[];

function toBytes(data: ArrayBuffer | ArrayBufferView | ArrayBufferView[]): Uint8Array {
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  if (Array.isArray(data)) {
    const total = data.reduce((n, part) => n + part.byteLength, 0);
    const out = new Uint8Array(total);
    let at = 0;
    for (const part of data) {
      out.set(new Uint8Array(part.buffer, part.byteOffset, part.byteLength), at);
      at += part.byteLength;
    }
    return out;
  }
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

export class FrameDecodeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "FrameDecodeError";
  }
}

/**
 * Decodes one server frame. A text frame is JSON and a binary frame MessagePack, whatever
 * was negotiated (the server sends only the negotiated kind; decoding by kind keeps a client
 * that fell back to JSON working).
 */
export function decodeFrame(data: WireData): ServerFrame {
  let value: unknown;
  try {
    value = typeof data === "string" ? JSON.parse(data) : msgpackDecode(toBytes(data));
  } catch (e) {
    throw new FrameDecodeError(`undecodable frame: ${(e as Error).message}`);
  }
  if (typeof value !== "object" || value === null || typeof (value as { type?: unknown }).type !== "string") {
    throw new FrameDecodeError("a frame must be an object with a string `type`");
  }
  return value as ServerFrame;
}
