/// A small, fast JSON writer into a byte buffer: objects and arrays are written in order,
/// strings are escaped (control characters, quotes, backslashes; invalid UTF-8 has already
/// been repaired by `String`). Used for `--events` lines and `--json` reports, where
/// Foundation's encoder would dominate the run time.
///
/// A class over its own growable buffer: `--events` writes some twenty small pieces per
/// event, and `Array.append(contentsOf:)` costs more per call than the copying itself.
public final class JSONWriter {
    // Not shared between threads; unchecked, as the dynamic exclusivity checks of a class's
    // stored properties cost more than the writes themselves.
    @exclusivity(unchecked) private var base: UnsafeMutablePointer<UInt8>
    @exclusivity(unchecked) private var capacity: Int
    /// Bytes written since the last `reset`.
    @exclusivity(unchecked) public private(set) var count = 0
    /// One bit per nesting level: a value was written at that level, so the next needs a comma.
    @exclusivity(unchecked) private var commas: UInt64 = 0
    @exclusivity(unchecked) private var depth = 0

    public init(capacity: Int = 1024) {
        self.capacity = max(64, capacity)
        base = .allocate(capacity: self.capacity)
    }

    deinit { base.deallocate() }

    /// A copy of what was written.
    public var bytes: [UInt8] { Array(UnsafeBufferPointer(start: base, count: count)) }

    /// What was written, without copying; valid until the next write or reset.
    public func withBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try body(UnsafeRawBufferPointer(start: base, count: count))
    }

    public func reset() {
        count = 0
        commas = 0
        depth = 0
    }

    /// Appends a newline (the end of a JSON Lines record).
    public func newline() { append(UInt8(ascii: "\n")) }

    // MARK: - The buffer

    @inline(__always)
    private func reserve(_ n: Int) {
        if count + n > capacity { grow(count + n) }
    }

    private func grow(_ needed: Int) {
        var c = capacity * 2
        while c < needed { c *= 2 }
        let b = UnsafeMutablePointer<UInt8>.allocate(capacity: c)
        b.update(from: base, count: count)
        base.deallocate()
        base = b
        capacity = c
    }

    @inline(__always)
    private func append(_ b: UInt8) {
        reserve(1)
        base[count] = b
        count += 1
    }

    @inline(__always)
    private func append(_ p: UnsafePointer<UInt8>, _ n: Int) {
        reserve(n)
        let dst = UnsafeMutableRawPointer(base + count)
        let src = UnsafeRawPointer(p)
        // Keys and most values are short: two overlapping word copies beat a call to memmove.
        if n >= 8 && n <= 16 {
            let a = src.loadUnaligned(as: UInt64.self), b = src.loadUnaligned(fromByteOffset: n &- 8, as: UInt64.self)
            dst.storeBytes(of: a, as: UInt64.self)
            dst.storeBytes(of: b, toByteOffset: n &- 8, as: UInt64.self)
        } else if n >= 4 && n < 8 {
            let a = src.loadUnaligned(as: UInt32.self), b = src.loadUnaligned(fromByteOffset: n &- 4, as: UInt32.self)
            dst.storeBytes(of: a, as: UInt32.self)
            dst.storeBytes(of: b, toByteOffset: n &- 4, as: UInt32.self)
        } else if n > 16 {
            dst.copyMemory(from: src, byteCount: n)
        } else {
            var i = 0
            while i < n { dst.storeBytes(of: src.load(fromByteOffset: i, as: UInt8.self), toByteOffset: i, as: UInt8.self); i &+= 1 }
        }
        count += n
    }

    @inline(__always)
    private func append(_ s: StaticString) {
        s.withUTF8Buffer { if let p = $0.baseAddress { append(p, $0.count) } }
    }

    // MARK: - Structure

    @inline(__always)
    private func separator() {
        let bit: UInt64 = 1 << UInt64(depth)
        if commas & bit != 0 { append(UInt8(ascii: ",")) }
        commas |= bit
    }

    private func open(_ b: UInt8) {
        separator()
        append(b)
        precondition(depth < 63, "JSON nested too deep")
        depth += 1
        commas &= ~(1 << UInt64(depth))
    }

    public func beginObject() { open(UInt8(ascii: "{")) }
    public func endObject() { append(UInt8(ascii: "}")); depth -= 1 }
    public func beginArray() { open(UInt8(ascii: "[")) }
    public func endArray() { append(UInt8(ascii: "]")); depth -= 1 }

    /// Writes `"name":` ; the value follows with one of the value writers. The name is a
    /// literal and is not escaped.
    public func key(_ name: StaticString) {
        separator()
        append(UInt8(ascii: "\""))
        append(name)
        append(UInt8(ascii: "\""))
        append(UInt8(ascii: ":"))
        commas &= ~(1 << UInt64(depth))
    }

    /// A key that is not a literal (it is escaped).
    public func key(escaping name: String) {
        separator()
        appendEscaped(name)
        append(UInt8(ascii: ":"))
        commas &= ~(1 << UInt64(depth))
    }

    // MARK: - Values

    public func string(_ s: String?) {
        separator()
        rawString(s)
    }

    public func int(_ v: Int?) {
        separator()
        rawInt(v)
    }

    // MARK: - Fixed layouts

    // A record of fixed layout (an `--events` line) is written as literal fragments such as
    // `,"mta":` and bare values: one copy per field instead of a dozen small appends.

    /// Starts a value at the current level (the comma before it, if one is due); the value
    /// is then written with `fragment` and the `raw` writers, and must be whole.
    func beginValue() { separator() }

    /// Literal JSON text, copied as it is.
    func fragment(_ s: StaticString) { append(s) }

    func rawString(_ s: String?) {
        guard let s else { append("null"); return }
        appendEscaped(s)
    }

    func rawInt(_ v: Int?) {
        guard let v else { append("null"); return }
        appendDecimal(v)
    }

    func rawBool(_ v: Bool) { append(v ? "true" : "false") }

    private func appendDecimal(_ v: Int) {
        if v < 0 { append(UInt8(ascii: "-")) }
        var u = v.magnitude
        if u < 10 { append(UInt8(truncatingIfNeeded: 48 + u)); return }
        // At most 20 digits.
        reserve(20)
        var digits = 0
        var t = u
        while t > 0 { digits += 1; t /= 10 }
        var i = count + digits
        while u > 0 {
            i -= 1
            base[i] = UInt8(truncatingIfNeeded: 48 + u % 10)
            u /= 10
        }
        count += digits
    }

    public func double(_ v: Double, decimals: Int = 4) {
        separator()
        guard v.isFinite else { append("null"); return }
        var scale = 1.0
        for _ in 0..<decimals { scale *= 10 }
        let rounded = (v * scale).rounded() / scale
        if rounded == rounded.rounded() && abs(rounded) < 1e15 {
            appendDecimal(Int(rounded))
        } else {
            var s = String(rounded)
            s.withUTF8 { if let p = $0.baseAddress { append(p, $0.count) } }
        }
    }

    public func bool(_ v: Bool) {
        separator()
        append(v ? "true" : "false")
    }

    public func null() {
        separator()
        append("null")
    }

    /// The last whole second written by `time`, and its "YYYY-MM-DDTHH:MM:SS" bytes: log
    /// lines come many to a second, so most times reuse them.
    @exclusivity(unchecked) private var lastSecond = Int64.min
    @exclusivity(unchecked) private var lastSecondBytes: [UInt8] = []
    @exclusivity(unchecked) private var scratch: [UInt8] = []

    /// A time as an RFC 3339 string, or null.
    public func time(_ micros: Int64?) {
        separator()
        rawTime(micros)
    }

    func rawTime(_ micros: Int64?) {
        guard let micros else { append("null"); return }
        var secs = micros / CivilTime.microsPerSecond
        var frac = micros % CivilTime.microsPerSecond
        if frac < 0 { frac += CivilTime.microsPerSecond; secs -= 1 }
        if secs != lastSecond {
            scratch.removeAll(keepingCapacity: true)
            CivilTime.appendRFC3339(secs * CivilTime.microsPerSecond, to: &scratch)
            lastSecond = secs
            lastSecondBytes = Array(scratch.prefix(19))
        }
        append(UInt8(ascii: "\""))
        lastSecondBytes.withUnsafeBufferPointer { append($0.baseAddress!, $0.count) }
        if frac != 0 {
            append(UInt8(ascii: "."))
            var div: Int64 = 100_000
            while div > 0 {
                append(UInt8(truncatingIfNeeded: 48 + (frac / div) % 10))
                div /= 10
            }
        }
        append(UInt8(ascii: "Z"))
        append(UInt8(ascii: "\""))
    }

    private static let hex: StaticString = "0123456789abcdef"

    private func appendEscaped(_ s: String) {
        // Native strings are contiguous: no copy of the string (and no retain) to read it.
        if let done = s.utf8.withContiguousStorageIfAvailable({ appendEscaped(utf8: $0) }) { return done }
        var copy = s
        copy.withUTF8 { appendEscaped(utf8: $0) }
    }

    private func appendEscaped(utf8 u: UnsafeBufferPointer<UInt8>) {
        append(UInt8(ascii: "\""))
        var start = 0
        var i = 0
        while true {
            i = Self.nextSpecial(u, from: i)
            if i == u.count { break }
            if i > start { append(u.baseAddress! + start, i - start) }
            escape(u[i])
            i += 1
            start = i
        }
        if start < u.count { append(u.baseAddress! + start, u.count - start) }
        append(UInt8(ascii: "\""))
    }

    /// The index of the first byte at or after `from` that must be escaped (a control
    /// character, `"`, backslash or DEL), else `u.count`. Eight bytes at a time while none is.
    @inline(__always)
    static func nextSpecial(_ u: UnsafeBufferPointer<UInt8>, from: Int) -> Int {
        var i = from
        if let p = u.baseAddress {
            let ones: UInt64 = 0x0101_0101_0101_0101
            let highs: UInt64 = 0x8080_8080_8080_8080
            while i + 8 <= u.count {
                let w = UInt64(littleEndian: UnsafeRawPointer(p + i).loadUnaligned(as: UInt64.self))
                // The word tests "some byte is below 32" and "some byte equals 34, 92 or 127"
                // (the has-a-zero-byte trick on w ^ c): exact for the word as a whole, which
                // is all that is needed here; the byte loop below finds which byte it is.
                let q = w ^ (ones &* 34), bs = w ^ (ones &* 92), del = w ^ (ones &* 127)
                let hit = ((w &- ones &* 32) | ((q &- ones) & ~q) | ((bs &- ones) & ~bs) | ((del &- ones) & ~del))
                    & ~w & highs
                if hit != 0 { break }
                i += 8
            }
        }
        while i < u.count {
            let b = u[i]
            if b < UInt8(ascii: " ") || b == UInt8(ascii: "\"") || b == UInt8(ascii: "\\") || b == 0x7F { return i }
            i += 1
        }
        return u.count
    }

    private func escape(_ b: UInt8) {
        switch b {
        case UInt8(ascii: "\""): append(UInt8(ascii: "\\")); append(UInt8(ascii: "\""))
        case UInt8(ascii: "\\"): append(UInt8(ascii: "\\")); append(UInt8(ascii: "\\"))
        case UInt8(ascii: "\n"): append(UInt8(ascii: "\\")); append(UInt8(ascii: "n"))
        case UInt8(ascii: "\r"): append(UInt8(ascii: "\\")); append(UInt8(ascii: "r"))
        case UInt8(ascii: "\t"): append(UInt8(ascii: "\\")); append(UInt8(ascii: "t"))
        default:
            append("\\u00")
            Self.hex.withUTF8Buffer { h in
                append(h[Int(b >> 4)])
                append(h[Int(b & 15)])
            }
        }
    }
}
