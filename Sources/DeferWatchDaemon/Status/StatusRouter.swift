import DeferWatchCore
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Answers a status request from the published snapshot: the routes of the status socket.
/// Pure apart from reading the board, so the routes are tested without a socket.
public struct StatusRouter: Sendable {
    public struct Response: Sendable, Equatable {
        public var status: Int
        public var contentType: String
        public var body: [UInt8]
    }

    let board: StatusBoard
    let config: StatusConfig
    /// The TCP listener serves /metrics only.
    let metricsOnly: Bool

    public init(board: StatusBoard, config: StatusConfig, metricsOnly: Bool = false) {
        self.board = board
        self.config = config
        self.metricsOnly = metricsOnly
    }

    static let encoder: JSONEncoder = {
        let e = JSONEncoder()
        e.keyEncodingStrategy = .convertToSnakeCase
        e.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return e
    }()

    /// A status document as the routes write it (snake_case keys, sorted, `schema_version`
    /// among them), with a newline.
    public static func jsonBytes<T: Encodable>(_ value: T) -> [UInt8] {
        Array((try? encoder.encode(Versioned(body: value))) ?? Data("{}".utf8)) + [10]
    }

    public func route(method: String, uri: String) -> Response {
        guard method == "GET" else { return error(405, "only GET is served") }
        let (path, query) = Self.split(uri)
        guard let path else { return error(400, "the request target is not a path") }
        if path == "/metrics" {
            guard let report = board.current else { return error(503, "deferwatch is starting; no status yet") }
            return Response(status: 200, contentType: "text/plain; version=0.0.4; charset=utf-8",
                            body: Array(report.prometheusText(topDomains: config.metricsTopDomains).utf8))
        }
        if metricsOnly { return error(404, "this listener serves /metrics only") }
        if path == "/" || path == "/v1" || path == "/v1/" {
            return json(Index())
        }
        guard path.hasPrefix("/v1/") else { return error(404, "no such resource: \(path) (see /v1/)") }
        guard let report = board.current else { return error(503, "deferwatch is starting; no status yet") }
        let rest = path.dropFirst(4)
        switch rest {
        case "status":
            guard let q = Self.params(query, allowed: ["limit"]) else { return badQuery(query, ["limit"]) }
            guard let limit = limit(q, default: 10) else { return error(400, "limit must be a number from 0 to \(config.maxDestinations)") }
            var r = report
            r.destinations = Array(r.destinations.prefix(limit))
            return json(r)
        case "queue":
            let allowed = ["destination", "limit", "ids"]
            guard let q = Self.params(query, allowed: Set(allowed)) else { return badQuery(query, allowed) }
            guard let limit = limit(q, default: 20) else { return error(400, "limit must be a number from 0 to \(config.maxDestinations)") }
            if let i = q["ids"], i != "0", i != "1" { return error(400, "ids must be 0 or 1") }
            guard var view = board.queue else {
                return error(404, "the deferred queue is not followed ([queue] enabled = false)")
            }
            if let d = q["destination"] {
                guard !d.isEmpty, d.utf8.count <= 255 else { return error(400, "destination must be a name of 1 to 255 bytes") }
                view = view.only(d)
            }
            var shown: [QueueView.Row] = []
            for scope in [Scope.domain, .relay, .provider] { shown += view.rows.filter { $0.scope == scope }.prefix(limit) }
            view.rows = shown
            // The message list with ids=1, or for one destination (at most 1000 then).
            if q["ids"] != "1" {
                if q["destination"] != nil, let l = view.list {
                    view.listTruncated = (view.listTruncated ?? false) || l.count > 1000
                    view.list = Array(l.prefix(1000))
                } else {
                    view.list = nil
                    view.listTruncated = nil
                }
            }
            return json(view)
        case "trace":
            return trace(query)
        case "alerts":
            guard Self.params(query, allowed: []) != nil else { return badQuery(query, []) }
            return json(StatusReport.AlertList(alerts: report.alerts))
        case "destinations":
            let allowed = ["cause", "provider", "scope", "host", "limit"]
            guard let q = Self.params(query, allowed: Set(allowed)) else { return badQuery(query, allowed) }
            guard let limit = limit(q, default: 50) else { return error(400, "limit must be a number from 0 to \(config.maxDestinations)") }
            if let c = q["cause"], Cause(rawValue: c) == nil {
                return error(400, "unknown cause \"\(c)\" (one of \(Cause.allCases.map(\.rawValue).joined(separator: ", ")))")
            }
            if let s = q["scope"], Scope(rawValue: s) == nil { return error(400, "scope must be domain, relay or provider") }
            let list = report.destinations.filter { d in
                (q["cause"].map { c in d.causes.contains { $0.cause == c } } ?? true)
                    && (q["provider"].map { $0.lowercased() == d.provider?.lowercased() } ?? true)
                    && (q["scope"].map { $0 == d.scope } ?? true)
                    && (q["host"].map { $0.lowercased() == d.host?.lowercased() } ?? true)
            }
            return json(StatusReport.DestinationList(window: report.window, destinations: Array(list.prefix(limit))))
        default:
            guard rest.hasPrefix("destinations/") else { return error(404, "no such resource: \(path) (see /v1/)") }
            guard Self.params(query, allowed: []) != nil else { return badQuery(query, []) }
            let name = String(rest.dropFirst("destinations/".count)).lowercased()
            guard !name.isEmpty, !name.contains("/") else { return error(404, "name a destination: /v1/destinations/gmail.com") }
            let found = report.destinations.filter { $0.key.lowercased() == name }
            let alerts = report.alerts.filter { a in
                [a.key, a.domain, a.relay, a.provider].contains { $0?.lowercased() == name }
            }
            if found.isEmpty && alerts.isEmpty {
                return error(404, "\(name): no deferrals in the last \(report.window) and no open alert")
            }
            return json(StatusReport.DestinationDetail(name: name, window: report.window, destinations: found, alerts: alerts))
        }
    }

    // MARK: - Trace

    /// `/v1/trace?q=QUERY[&limit=N][&format=json|text]`: the messages the query names
    /// among the recent lines the daemon keeps, as `deferwatch trace` shows them.
    private func trace(_ query: String?) -> Response {
        let allowed = ["q", "limit", "format"]
        guard let p = Self.params(query, allowed: Set(allowed)) else { return badQuery(query, allowed) }
        guard let q = p["q"], !q.isEmpty, q.utf8.count <= 998 else {
            return error(400, "name the message: q=QUEUEID, q=ADDRESS or q=MESSAGE-ID (1 to 998 bytes)")
        }
        var limit = 100
        if let l = p["limit"] {
            guard let n = Int(l), n >= 1, n <= 1000 else { return error(400, "limit must be a number from 1 to 1000") }
            limit = n
        }
        let format = p["format"] ?? "json"
        guard format == "json" || format == "text" else { return error(400, "format must be json or text") }
        guard let recent = board.recent else {
            return error(404, "recent lines are not kept ([status] trace_bytes = 0); use deferwatch trace --from LOG")
        }
        let query = MessageTrace.Query(q)
        let traces = recent.trace(query, limit: limit)
        let since = recent.oldestTime.map(CivilTime.rfc3339) ?? "-"
        let memory = "\(recent.count) lines kept since \(since)"
        if traces.isEmpty {
            return error(404, "no message in the daemon's recent lines (\(memory)) matches \(q); older mail: deferwatch trace --from LOG")
        }
        if format == "text" {
            var text = traces.map(\.text).joined(separator: "\n")
            text += "\n(from the daemon's memory: \(memory)\(recent.forgotten > 0 ? "; older lines are forgotten" : ""))\n"
            return Response(status: 200, contentType: "text/plain; charset=utf-8", body: Array(text.utf8))
        }
        let w = JSONWriter(capacity: 4096)
        w.beginObject()
        w.key("schema_version"); w.int(StatusReport.schemaVersion)
        w.key("query"); w.string(query.text)
        w.key("memory"); w.beginObject()
        w.key("lines"); w.int(recent.count)
        w.key("bytes"); w.int(recent.bytes)
        w.key("budget"); w.int(recent.budget)
        w.key("forgotten"); w.int(recent.forgotten)
        w.key("oldest"); w.time(recent.oldestTime)
        w.endObject()
        w.key("truncated"); w.bool(traces.count >= limit)
        w.key("traces"); w.beginArray()
        for t in traces { t.writeJSON(to: w) }
        w.endArray()
        w.endObject()
        w.newline()
        return Response(status: 200, contentType: "application/json", body: w.bytes)
    }

    // MARK: - Bodies

    struct Index: Encodable {
        var endpoints = ["/v1/status", "/v1/alerts", "/v1/destinations", "/v1/destinations/{name}", "/v1/queue", "/v1/trace", "/metrics"]
    }

    struct ErrorBody: Encodable { var error: String }

    /// A document with the shape's version beside its own keys.
    struct Versioned<T: Encodable>: Encodable {
        var body: T
        enum Key: String, CodingKey { case schemaVersion }
        func encode(to encoder: any Encoder) throws {
            try body.encode(to: encoder)
            var c = encoder.container(keyedBy: Key.self)
            try c.encode(StatusReport.schemaVersion, forKey: .schemaVersion)
        }
    }

    private func json<T: Encodable>(_ value: T) -> Response {
        let data = (try? Self.encoder.encode(Versioned(body: value))) ?? Data("{}".utf8)
        return Response(status: 200, contentType: "application/json", body: Array(data) + [10])
    }

    private func error(_ status: Int, _ message: String) -> Response {
        let data = (try? Self.encoder.encode(ErrorBody(error: message))) ?? Data()
        return Response(status: status, contentType: "application/json", body: Array(data) + [10])
    }

    private func badQuery(_ query: String?, _ allowed: [String]) -> Response {
        error(400, allowed.isEmpty ? "this resource takes no query parameters"
              : "bad query \"\(query ?? "")\": parameters are \(allowed.joined(separator: ", "))")
    }

    private func limit(_ q: [String: String], default d: Int) -> Int? {
        guard let s = q["limit"] else { return min(d, config.maxDestinations) }
        guard let n = Int(s), n >= 0, n <= config.maxDestinations else { return nil }
        return n
    }

    // MARK: - URI

    /// The decoded path and the raw query of a request target ("/v1/x?a=b").
    static func split(_ uri: String) -> (path: String?, query: String?) {
        let parts = uri.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false)
        guard let raw = parts.first, raw.hasPrefix("/") else { return (nil, nil) }
        let path = PercentEncoding.decode(raw)
        return (path, parts.count > 1 ? String(parts[1]) : nil)
    }

    /// The query's parameters, nil when one is unknown, repeated or badly encoded.
    static func params(_ query: String?, allowed: Set<String>) -> [String: String]? {
        var out: [String: String] = [:]
        guard let query, !query.isEmpty else { return out }
        for pair in query.split(separator: "&") {
            let kv = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard let k = PercentEncoding.decode(kv[0], plusIsSpace: true),
                  let v = PercentEncoding.decode(kv.count > 1 ? kv[1] : "", plusIsSpace: true),
                  allowed.contains(k), out[k] == nil else { return nil }
            out[k] = v
        }
        return out
    }
}
