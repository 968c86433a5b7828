/// A small, fast JSON writer into a byte buffer: objects and arrays are written in order,
/// strings are escaped (control characters, quotes, backslashes; invalid UTF-8 has already
/// been repaired by `String`). Used for `--events` lines and `--json` reports, where
/// Foundation's encoder would dominate the run time.
public struct JSONWriter {
    public var bytes: [UInt8] = []
    /// One bit per nesting level: a value was written at that level, so the next needs a comma.
    private var commas: UInt64 = 0
    private var depth = 0

    public init(capacity: Int = 1024) { bytes.reserveCapacity(capacity) }

    public mutating func reset() {
        bytes.removeAll(keepingCapacity: true)
        commas = 0
        depth = 0
    }

    @inline(__always)
    private mutating func separator() {
        let bit: UInt64 = 1 << UInt64(depth)
        if commas & bit != 0 { bytes.append(44) }
        commas |= bit
    }

    private mutating func open(_ b: UInt8) {
        separator()
        bytes.append(b)
        precondition(depth < 63, "JSON nested too deep")
        depth += 1
        commas &= ~(1 << UInt64(depth))
    }

    public mutating func beginObject() { open(123) }
    public mutating func endObject() { bytes.append(125); depth -= 1 }
    public mutating func beginArray() { open(91) }
    public mutating func endArray() { bytes.append(93); depth -= 1 }

    /// Writes `"name":` ; the value follows with one of the value writers.
    public mutating func key(_ name: StaticString) {
        separator()
        bytes.append(34)
        name.withUTF8Buffer { bytes.append(contentsOf: $0) }
        bytes.append(34)
        bytes.append(58)
        commas &= ~(1 << UInt64(depth))
    }

    public mutating func key(_ name: String) {
        separator()
        appendEscaped(name)
        bytes.append(58)
        commas &= ~(1 << UInt64(depth))
    }

    public mutating func string(_ s: String?) {
        separator()
        guard let s else { bytes.append(contentsOf: [110, 117, 108, 108]); return }
        appendEscaped(s)
    }

    public mutating func int(_ v: Int?) {
        separator()
        guard let v else { bytes.append(contentsOf: [110, 117, 108, 108]); return }
        bytes.append(contentsOf: String(v).utf8)
    }

    public mutating func double(_ v: Double, decimals: Int = 4) {
        separator()
        guard v.isFinite else { bytes.append(contentsOf: [110, 117, 108, 108]); return }
        var scale = 1.0
        for _ in 0..<decimals { scale *= 10 }
        let rounded = (v * scale).rounded() / scale
        if rounded == rounded.rounded() && abs(rounded) < 1e15 {
            bytes.append(contentsOf: String(Int(rounded)).utf8)
        } else {
            bytes.append(contentsOf: String(rounded).utf8)
        }
    }

    public mutating func bool(_ v: Bool) {
        separator()
        bytes.append(contentsOf: v ? [116, 114, 117, 101] : [102, 97, 108, 115, 101])
    }

    public mutating func null() {
        separator()
        bytes.append(contentsOf: [110, 117, 108, 108])
    }

    /// A time as an RFC 3339 string, or null.
    public mutating func time(_ micros: Int64?) {
        separator()
        guard let micros else { bytes.append(contentsOf: [110, 117, 108, 108]); return }
        bytes.append(34)
        CivilTime.appendRFC3339(micros, to: &bytes)
        bytes.append(34)
    }

    private static let hex: [UInt8] = Array("0123456789abcdef".utf8)

    private mutating func appendEscaped(_ s: String) {
        var s = s
        s.withUTF8 { u in
            bytes.append(34)
            var start = 0
            for i in 0..<u.count {
                let b = u[i]
                if b >= 32 && b != 34 && b != 92 && b != 127 { continue }
                if i > start { bytes.append(contentsOf: UnsafeBufferPointer(rebasing: u[start..<i])) }
                escape(b)
                start = i + 1
            }
            if start < u.count { bytes.append(contentsOf: UnsafeBufferPointer(rebasing: u[start..<u.count])) }
            bytes.append(34)
        }
    }

    private mutating func escape(_ b: UInt8) {
        switch b {
        case 34: bytes.append(92); bytes.append(34)
        case 92: bytes.append(92); bytes.append(92)
        case 10: bytes.append(92); bytes.append(110)
        case 13: bytes.append(92); bytes.append(114)
        case 9: bytes.append(92); bytes.append(116)
        default:
            bytes.append(contentsOf: [92, 117, 48, 48])
            bytes.append(Self.hex[Int(b >> 4)])
            bytes.append(Self.hex[Int(b & 15)])
        }
    }
}
