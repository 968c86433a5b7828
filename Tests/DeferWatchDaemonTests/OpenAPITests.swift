#if canImport(Glibc)
import Glibc
#endif
import DeferWatchCore
import DeferWatchDaemon
import DeferWatchTestSupport
import Foundation
import Testing

/// A JSON value as it was written: booleans, integers and other numbers told apart.
enum JSONValue: Decodable, Equatable, CustomStringConvertible {
    case null
    case bool(Bool)
    case int(Int)
    case double(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        if c.decodeNil() { self = .null }
        else if let b = try? c.decode(Bool.self) { self = .bool(b) }
        else if let i = try? c.decode(Int.self) { self = .int(i) }
        else if let d = try? c.decode(Double.self) { self = .double(d) }
        else if let s = try? c.decode(String.self) { self = .string(s) }
        else if let a = try? c.decode([JSONValue].self) { self = .array(a) }
        else { self = .object(try c.decode([String: JSONValue].self)) }
    }

    static func parse(_ bytes: some Sequence<UInt8>) throws -> JSONValue {
        try JSONDecoder().decode(JSONValue.self, from: Data(bytes))
    }

    subscript(_ key: String) -> JSONValue? {
        if case .object(let o) = self { return o[key] }
        return nil
    }

    var object: [String: JSONValue]? { if case .object(let o) = self { o } else { nil } }
    var array: [JSONValue]? { if case .array(let a) = self { a } else { nil } }
    var string: String? { if case .string(let s) = self { s } else { nil } }
    var number: Double? {
        switch self {
        case .int(let i): Double(i)
        case .double(let d): d
        default: nil
        }
    }

    /// The JSON Schema type names the value is an instance of.
    var types: Set<String> {
        switch self {
        case .null: ["null"]
        case .bool: ["boolean"]
        case .int: ["integer", "number"]
        case .double(let d): d.rounded() == d && abs(d) < 1e15 ? ["integer", "number"] : ["number"]
        case .string: ["string"]
        case .array: ["array"]
        case .object: ["object"]
        }
    }

    var description: String {
        switch self {
        case .null: "null"
        case .bool(let b): "\(b)"
        case .int(let i): "\(i)"
        case .double(let d): "\(d)"
        case .string(let s): "\"\(s.prefix(60))\""
        case .array(let a): "array of \(a.count)"
        case .object(let o): "object {\(o.keys.sorted().joined(separator: ", "))}"
        }
    }
}

/// The JSON Schema of OpenAPI 3.1 that the shipped description uses: type (arrays of types
/// too, integer apart from number), enum, properties, required, additionalProperties (false
/// or a schema), items, minItems/maxItems, minimum/maximum, minLength/maxLength, anyOf,
/// oneOf and local `$ref`s. Annotations (description, format, default) are not checked.
struct SchemaValidator {
    let root: JSONValue

    /// What `#/a/b/c` names in the document.
    func resolve(_ ref: String) -> JSONValue? {
        guard ref.hasPrefix("#/") else { return nil }
        var v: JSONValue? = root
        for part in ref.dropFirst(2).split(separator: "/") {
            v = v?[part.replacingOccurrences(of: "~1", with: "/").replacingOccurrences(of: "~0", with: "~")]
        }
        return v
    }

    /// Every way `value` fails `schema`, each with its JSON path; empty: it conforms.
    func errors(_ value: JSONValue, _ schema: JSONValue, at path: String = "$") -> [String] {
        guard let s = schema.object else { return ["\(path): the schema is not an object"] }
        if let ref = s["$ref"]?.string {
            guard let target = resolve(ref) else { return ["\(path): unresolved $ref \(ref)"] }
            return errors(value, target, at: path)
        }
        var out: [String] = []
        if let t = s["type"] {
            let allowed = t.string.map { [$0] } ?? (t.array ?? []).compactMap(\.string)
            if value.types.isDisjoint(with: allowed) {
                return ["\(path): \(value) is not of type \(allowed.joined(separator: " or "))"]
            }
        }
        if let e = s["enum"]?.array, !e.contains(where: { Self.same($0, value) }) {
            out.append("\(path): \(value) is not one of \(e.map(\.description).joined(separator: ", "))")
        }
        if let n = value.number {
            if let m = s["minimum"]?.number, n < m { out.append("\(path): \(value) is below the minimum \(m)") }
            if let m = s["maximum"]?.number, n > m { out.append("\(path): \(value) is above the maximum \(m)") }
        }
        if let str = value.string {
            if let m = s["minLength"]?.number, Double(str.count) < m { out.append("\(path): \(value) is shorter than \(m)") }
            if let m = s["maxLength"]?.number, Double(str.count) > m { out.append("\(path): \(value) is longer than \(m)") }
        }
        if let a = value.array {
            if let m = s["minItems"]?.number, Double(a.count) < m { out.append("\(path): \(a.count) items, fewer than \(m)") }
            if let m = s["maxItems"]?.number, Double(a.count) > m { out.append("\(path): \(a.count) items, more than \(m)") }
            if let items = s["items"] {
                for (i, v) in a.enumerated() { out += errors(v, items, at: "\(path)[\(i)]") }
            }
        }
        if let o = value.object {
            let props = s["properties"]?.object ?? [:]
            for k in (s["required"]?.array ?? []).compactMap(\.string) where o[k] == nil {
                out.append("\(path).\(k): required, missing")
            }
            for (k, v) in o.sorted(by: { $0.key < $1.key }) {
                if let p = props[k] {
                    out += errors(v, p, at: "\(path).\(k)")
                } else if let extra = s["additionalProperties"] {
                    if extra == .bool(false) { out.append("\(path).\(k): not in the schema (additionalProperties: false), value \(v)") }
                    else if extra.object != nil { out += errors(v, extra, at: "\(path).\(k)") }
                }
            }
        }
        if let any = s["anyOf"]?.array {
            let each = any.map { errors(value, $0, at: path) }
            if !each.contains(where: \.isEmpty) {
                out.append("\(path): matches none of anyOf (\(each.map { $0.first ?? "" }.joined(separator: "; ")))")
            }
        }
        if let one = s["oneOf"]?.array {
            let each = one.map { errors(value, $0, at: path) }
            let n = each.filter(\.isEmpty).count
            if n != 1 { out.append("\(path): matches \(n) of oneOf, not exactly one") }
        }
        return out
    }

    /// JSON equality, an integer equal to the same number written otherwise.
    static func same(_ a: JSONValue, _ b: JSONValue) -> Bool {
        if let x = a.number, let y = b.number, a.types.contains("integer") == b.types.contains("integer") { return x == y }
        return a == b
    }
}

/// Config/openapi.json (installed as /usr/share/deferwatch/openapi.json) against a real
/// daemon: every path it names is fetched, the good requests and the bad ones, and every
/// body is validated against the schema of its status code; the spec's paths are the
/// router's index.
@Suite(.serialized) struct OpenAPITests {
    typealias Daemon = DaemonProcessTests

    static func load() throws -> JSONValue {
        let url = TestPaths.packageRoot.appendingPathComponent("Config/openapi.json")
        return try JSONValue.parse(try Data(contentsOf: url))
    }

    /// The response object of a path's GET for a status, `$ref`s into components followed.
    static func response(_ spec: JSONValue, path: String, status: Int) -> JSONValue? {
        guard let r = spec["paths"]?[path]?["get"]?["responses"]?[String(status)] else { return nil }
        if let ref = r["$ref"]?.string { return SchemaValidator(root: spec).resolve(ref) }
        return r
    }

    /// One request of the test: the path of the spec it exercises, the request target, the
    /// status it must get.
    struct Case {
        var path: String
        var target: String
        var status: Int
    }

    static let cases: [Case] = [
        Case(path: "/v1", target: "/v1", status: 200),
        Case(path: "/v1/status", target: "/v1/status", status: 200),
        Case(path: "/v1/status", target: "/v1/status?limit=100", status: 200),
        Case(path: "/v1/status", target: "/v1/status?limit=many", status: 400),
        Case(path: "/v1/alerts", target: "/v1/alerts", status: 200),
        Case(path: "/v1/alerts", target: "/v1/alerts?colour=red", status: 400),
        Case(path: "/v1/destinations", target: "/v1/destinations", status: 200),
        Case(path: "/v1/destinations", target: "/v1/destinations?cause=rate_limit&provider=google&scope=domain&limit=5", status: 200),
        Case(path: "/v1/destinations", target: "/v1/destinations?host=mx1", status: 200),
        Case(path: "/v1/destinations", target: "/v1/destinations?cause=sunspots", status: 400),
        Case(path: "/v1/destinations/{name}", target: "/v1/destinations/gmail.com", status: 200),
        Case(path: "/v1/destinations/{name}", target: "/v1/destinations/google", status: 200),
        Case(path: "/v1/destinations/{name}", target: "/v1/destinations/outlook.com", status: 200),
        Case(path: "/v1/destinations/{name}", target: "/v1/destinations/gmail.com?limit=1", status: 400),
        Case(path: "/v1/destinations/{name}", target: "/v1/destinations/quiet.example", status: 404),
        Case(path: "/v1/queue", target: "/v1/queue", status: 200),
        Case(path: "/v1/queue", target: "/v1/queue?ids=1", status: 200),
        Case(path: "/v1/queue", target: "/v1/queue?destination=gmail.com&limit=5", status: 200),
        Case(path: "/v1/queue", target: "/v1/queue?ids=2", status: 400),
        Case(path: "/v1/trace", target: "/v1/trace?q=B000000000", status: 200),
        Case(path: "/v1/trace", target: "/v1/trace?q=u70%40outlook.com&limit=5", status: 200),
        Case(path: "/v1/trace", target: "/v1/trace?q=B000000000&format=text", status: 200),
        Case(path: "/v1/trace", target: "/v1/trace?q=nobody%40example.com", status: 404),
        Case(path: "/v1/trace", target: "/v1/trace?q=B000000000&format=xml", status: 400),
        Case(path: "/metrics", target: "/metrics", status: 200),
    ]

    /// One raw request over the socket (StatusClient sends only GET): the status and body.
    static func raw(_ socketPath: String, _ request: String) throws -> (status: Int, body: [UInt8]) {
        let fd = connectStreamSocket(path: socketPath)
        try #require(fd >= 0, "cannot connect to \(socketPath)")
        defer { close(fd) }
        _ = StatusAbuseTests.send(fd, Array(request.utf8))
        var data: [UInt8] = []
        var buf = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = buf.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n <= 0 { break }
            data += buf[0..<n]
        }
        let text = String(decoding: data, as: UTF8.self)
        let status = Int(text.split(separator: " ", maxSplits: 2).dropFirst().first ?? "") ?? 0
        let split = text.range(of: "\r\n\r\n").map { text[$0.upperBound...] } ?? ""
        return (status, Array(split.utf8))
    }

    @Test func theLiveServerAnswersAsTheSpecSays() throws {
        let spec = try Self.load()
        let validator = SchemaValidator(root: spec)
        #expect(spec["openapi"]?.string == "3.1.0")
        #expect(spec["info"]?["version"]?.string == DeferWatchVersion.string)
        let specPaths = Set(spec["paths"]?.object.map { Array($0.keys) } ?? [])

        let (s, p) = try StatusSocketTests.startWithKnownLog()
        defer { ProcessRunner.stop(p) }
        // The snapshot with the two alerts of the known log (snapshots come once a second).
        #expect(eventually(every: 50_000) {
            ((try? StatusSocketTests.get(s, "/v1/alerts"))?.json["alerts"] as? [Any])?.count == 2
        }, "the alerts did not open")

        // The index and the spec name the same resources.
        let index = try JSONValue.parse(try StatusSocketTests.get(s, "/v1").body.utf8)
        let endpoints = Set((index["endpoints"]?.array ?? []).compactMap(\.string))
        #expect(!endpoints.isEmpty)
        #expect(endpoints.subtracting(specPaths).isEmpty, "in the router's index, not in the spec: \(endpoints.subtracting(specPaths).sorted())")
        #expect(specPaths.subtracting(endpoints).subtracting(["/v1"]).isEmpty,
                "in the spec, not in the router's index: \(specPaths.subtracting(endpoints).subtracting(["/v1"]).sorted())")

        var exercised = Set<String>()
        var bodies: [String: JSONValue] = [:]
        for c in Self.cases {
            let r = try StatusSocketTests.get(s, c.target)
            bodies[c.target] = try? JSONValue.parse(Array(r.body.utf8))
            #expect(r.status == c.status, "GET \(c.target): \(r.status), not \(c.status): \(r.body)")
            guard let declared = Self.response(spec, path: c.path, status: r.status) else {
                Issue.record("GET \(c.target): status \(r.status) is not declared for \(c.path) in the spec")
                continue
            }
            exercised.insert(c.path)
            let content = declared["content"]?.object ?? [:]
            if let schema = content["application/json"]?["schema"], let body = try? JSONValue.parse(Array(r.body.utf8)) {
                let errors = validator.errors(body, schema)
                #expect(errors.isEmpty, "GET \(c.target) (\(r.status)) does not match the spec:\n\(errors.joined(separator: "\n"))")
            } else {
                // Not JSON: the spec must declare text for it.
                #expect(content["text/plain"] != nil, "GET \(c.target) (\(r.status)): the body is not JSON and no text/plain is declared: \(r.body.prefix(200))")
                #expect(!r.body.isEmpty)
            }
        }
        // The bodies validated hold the optional parts too, so their schemas were checked.
        let status = bodies["/v1/status"]
        #expect(status?["queue"]?["providers"]?.array?.isEmpty == false, "no queue in /v1/status")
        #expect(status?["alerts"]?.array?.contains { $0["fix"]?["values"] != nil } == true, "no alert with a fix")
        #expect(status?["destinations"]?.array?.contains { $0["first_deferral"] != nil } == true)
        #expect(bodies["/v1/queue?ids=1"]?["list"]?.array?.count == 40, "the queue's message list")
        #expect(bodies["/v1/queue?destination=gmail.com&limit=5"]?["list_truncated"] == .bool(false))
        #expect(bodies["/v1/trace?q=B000000000"]?["traces"]?.array?.first?["steps"]?.array?.isEmpty == false, "no trace")
        #expect(bodies["/v1/trace?q=u70%40outlook.com&limit=5"]?["traces"]?.array?.count == 1)
        #expect(specPaths.subtracting(exercised).isEmpty, "paths of the spec never fetched: \(specPaths.subtracting(exercised).sorted())")

        // Any method but GET: 405 with an Error body, as components.responses says.
        let m = try Self.raw(StatusSocketTests.socketPath(s), "DELETE /v1/status HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        #expect(m.status == 405)
        let notAllowed = try #require(validator.resolve("#/components/responses/MethodNotAllowed")?["content"]?["application/json"]?["schema"])
        let errors = validator.errors(try JSONValue.parse(m.body), notAllowed)
        #expect(errors.isEmpty, "DELETE /v1/status (405):\n\(errors.joined(separator: "\n"))")
    }

    /// Every object of the spec is closed, so a key the server adds fails the live test.
    @Test func everyObjectSchemaIsClosed() throws {
        let spec = try Self.load()
        var open: [String] = []
        func walk(_ v: JSONValue, _ path: String) {
            switch v {
            case .object(let o):
                if o["type"] == .string("object"), o["additionalProperties"] != .bool(false) { open.append(path) }
                for (k, x) in o { walk(x, path + "/" + k) }
            case .array(let a):
                for (i, x) in a.enumerated() { walk(x, "\(path)/\(i)") }
            default: break
            }
        }
        walk(spec["components"] ?? .null, "#/components")
        #expect(open.isEmpty, "objects without additionalProperties: false: \(open.sorted())")
    }

    @Test func theValidatorRejectsWhatTheSpecDoesNot() throws {
        let spec = try JSONValue.parse(Array("""
        {"components": {"schemas": {
          "Fix": {"type": "object", "additionalProperties": false, "required": ["values"],
                  "properties": {"values": {"$ref": "#/components/schemas/Values"}}},
          "Values": {"type": "object", "additionalProperties": false, "required": ["count"],
                     "properties": {"count": {"type": "integer"}, "share": {"type": "number"},
                                    "on": {"type": "boolean"}, "note": {"type": ["string", "null"]},
                                    "kind": {"type": "string", "enum": ["a", "b"]}}},
          "List": {"type": "object", "additionalProperties": false, "required": ["alerts"],
                   "properties": {"alerts": {"type": "array", "items": {"type": "object", "additionalProperties": false,
                      "properties": {"fix": {"$ref": "#/components/schemas/Fix"}}}}}}
        }}}
        """.utf8))
        let v = SchemaValidator(root: spec)
        let list = try #require(v.resolve("#/components/schemas/List"))
        func check(_ json: String) throws -> [String] { v.errors(try JSONValue.parse(Array(json.utf8)), list) }

        #expect(try check(#"{"alerts": [{"fix": {"values": {"count": 3, "share": 0.5, "on": true, "note": null, "kind": "a"}}}]}"#) == [])
        // An integer is a number.
        #expect(try check(#"{"alerts": [{"fix": {"values": {"count": 3, "share": 1}}}]}"#) == [])
        // An extra key.
        #expect(try check(#"{"alerts": [{"fix": {"values": {"count": 3, "concurrency": 2}}}]}"#)
                == ["$.alerts[0].fix.values.concurrency: not in the schema (additionalProperties: false), value 2"])
        // A missing required key.
        #expect(try check(#"{"alerts": [{}, {"fix": {"values": {}}}]}"#) == ["$.alerts[1].fix.values.count: required, missing"])
        // Wrong types: a boolean is no integer, an integer no boolean, a fraction no integer.
        #expect(try check(#"{"alerts": [{"fix": {"values": {"count": true}}}]}"#) == ["$.alerts[0].fix.values.count: true is not of type integer"])
        #expect(try check(#"{"alerts": [{"fix": {"values": {"count": 1, "on": 1}}}]}"#) == ["$.alerts[0].fix.values.on: 1 is not of type boolean"])
        #expect(try check(#"{"alerts": [{"fix": {"values": {"count": 1.5}}}]}"#) == ["$.alerts[0].fix.values.count: 1.5 is not of type integer"])
        #expect(try check(#"{"alerts": [{"fix": {"values": {"count": 1, "note": 4}}}]}"#) == ["$.alerts[0].fix.values.note: 4 is not of type string or null"])
        #expect(try check(#"{"alerts": [{"fix": {"values": {"count": 1, "kind": "c"}}}]}"#) == [#"$.alerts[0].fix.values.kind: "c" is not one of "a", "b""#])
        #expect(try check(#"{"alerts": {}}"#) == ["$.alerts: object {} is not of type array"])
    }
}
