/**
 * Helpers for the HTTP tests (not a test file): a raw HTTP/1.1 client over `node:net`, which can send
 * header bytes `fetch` and `http.request` refuse, and a memory store that counts its calls and can be
 * switched to fail or hang.
 */
import type { Server } from 'node:http'
import net, { type AddressInfo } from 'node:net'
import { type KeyStore, memoryStore } from 'keyward'
import type { RunningApp } from './apps.js'

/** One header line as sent: `value` is a byte string (each character is one byte, 0–255). */
export interface HeaderLine {
	readonly name: string
	readonly value: string
}

/** A response as read off the socket. */
export interface RawResponse {
	readonly status: number
	/** Lower-case names; a repeated header is joined with `, `. */
	readonly headers: Readonly<Record<string, string>>
	readonly body: string
	/** The whole response, as latin1. */
	readonly raw: string
}

/** The bytes of a request head: request line, Host, the given lines, `Connection: close`. */
export function requestHead(url: string, path: string, lines: readonly HeaderLine[]): Buffer {
	const { host } = new URL(url)
	let head = `GET ${path} HTTP/1.1\r\nHost: ${host}\r\n`
	for (const line of lines) head += `${line.name}: ${line.value}\r\n`
	head += 'Connection: close\r\n\r\n'
	return Buffer.from(head, 'latin1')
}

/**
 * Sends one request on a fresh TCP connection and reads the response until the server closes it.
 * Rejects when nothing parseable came back within `timeoutMs`.
 */
export function rawRequest(
	url: string,
	path: string,
	lines: readonly HeaderLine[] = [],
	timeoutMs = 5000,
): Promise<RawResponse> {
	const { hostname, port } = new URL(url)
	const head = requestHead(url, path, lines)
	return new Promise((resolve, reject) => {
		const chunks: Buffer[] = []
		const socket = net.connect(Number(port), hostname)
		let settled = false
		const finish = (error?: Error) => {
			if (settled) return
			settled = true
			clearTimeout(timer)
			socket.destroy()
			const raw = Buffer.concat(chunks).toString('latin1')
			try {
				resolve(parseResponse(raw))
			} catch (parseError) {
				reject(error ?? parseError)
			}
		}
		const timer = setTimeout(
			() => finish(new Error(`no complete response from ${url}${path} within ${timeoutMs} ms`)),
			timeoutMs,
		)
		socket.on('data', (chunk) => chunks.push(chunk))
		socket.on('end', () => finish())
		socket.on('close', () => finish())
		// A server that answers 431/400 and closes while we still write may reset the connection;
		// what it wrote before is in `chunks`.
		socket.on('error', (error) => finish(error))
		// Not `end()`: a half-closed client makes Node's HTTP server abort the pending request.
		socket.write(head)
	})
}

/** Parses an HTTP/1.1 response (status line, headers, body by Content-Length, chunked, or until close). */
export function parseResponse(raw: string): RawResponse {
	const end = raw.indexOf('\r\n\r\n')
	if (end === -1) throw new Error(`incomplete response: ${JSON.stringify(raw.slice(0, 200))}`)
	const [statusLine = '', ...headerLines] = raw.slice(0, end).split('\r\n')
	const match = /^HTTP\/1\.[01] (\d{3})(?: .*)?$/.exec(statusLine)
	if (!match) throw new Error(`bad status line: ${JSON.stringify(statusLine)}`)
	const headers: Record<string, string> = {}
	for (const line of headerLines) {
		const colon = line.indexOf(':')
		const name = line.slice(0, colon).trim().toLowerCase()
		const value = line.slice(colon + 1).trim()
		headers[name] = name in headers ? `${headers[name]}, ${value}` : value
	}
	let body = raw.slice(end + 4)
	if (/\bchunked\b/i.test(headers['transfer-encoding'] ?? '')) body = unchunk(body)
	else if (headers['content-length'] !== undefined) {
		const length = Number(headers['content-length'])
		if (Buffer.byteLength(body, 'latin1') < length) throw new Error('response body cut short')
		body = body.slice(0, length)
	}
	return { status: Number(match[1]), headers, body: Buffer.from(body, 'latin1').toString('utf8'), raw }
}

function unchunk(data: string): string {
	let out = ''
	let at = 0
	for (;;) {
		const lineEnd = data.indexOf('\r\n', at)
		if (lineEnd === -1) throw new Error('chunked body cut short')
		const size = Number.parseInt(data.slice(at, lineEnd), 16)
		if (Number.isNaN(size)) throw new Error('bad chunk size')
		if (size === 0) return out
		out += data.slice(lineEnd + 2, lineEnd + 2 + size)
		at = lineEnd + 2 + size + 2
	}
}

/** `Authorization: Bearer <key>` as a header line. */
export const bearer = (key: string): HeaderLine => ({ name: 'Authorization', value: `Bearer ${key}` })

export type StoreMode = 'ok' | 'fail' | 'hang'

/** A memory store that counts calls per method and can be switched to reject or hang. */
export interface TestStore {
	readonly store: KeyStore
	/** Calls per method name, since creation. */
	readonly calls: Record<string, number>
	mode: StoreMode
}

/**
 * Wraps `memoryStore()`: every method call is counted; in `fail` mode every method rejects with
 * `new Error('connection refused')`, in `hang` mode it returns a promise that never settles.
 */
export function testStore(): TestStore {
	const inner = memoryStore()
	const calls: Record<string, number> = {}
	const control: TestStore = { store: inner, calls, mode: 'ok' }
	const store = new Proxy(inner, {
		get(target, property, receiver) {
			const value = Reflect.get(target, property, receiver)
			if (typeof value !== 'function' || typeof property !== 'string') return value
			return (...args: unknown[]) => {
				calls[property] = (calls[property] ?? 0) + 1
				if (control.mode === 'fail') return Promise.reject(new Error('connection refused'))
				if (control.mode === 'hang') return new Promise(() => {})
				return value.apply(target, args)
			}
		},
	})
	return Object.assign(control, { store })
}

/** A key with its last character changed, so its checksum fails. */
export function typo(key: string): string {
	return key.slice(0, -1) + (key.endsWith('x') ? 'y' : 'x')
}

/** Waits for a server started with `listen(0, '127.0.0.1')` and wraps it as a {@link RunningApp}. */
export async function listening(server: Server): Promise<RunningApp> {
	if (!server.listening) await new Promise<void>((resolve) => server.once('listening', () => resolve()))
	const { port } = server.address() as AddressInfo
	return {
		url: `http://127.0.0.1:${port}`,
		close: () => new Promise<void>((resolve) => server.close(() => resolve())),
	}
}
