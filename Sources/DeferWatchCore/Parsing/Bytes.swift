#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A borrowed view of bytes in a buffer owned by someone else (a read buffer, a journal
/// entry). Valid only for the duration of the call it is handed to; anything kept must be
/// copied out (`string`).
public typealias Bytes = UnsafeBufferPointer<UInt8>

@usableFromInline let asciiSpace: UInt8 = 0x20
@usableFromInline let asciiTab: UInt8 = 0x09

extension UnsafeBufferPointer where Element == UInt8 {
    /// The bytes as a Swift string; invalid UTF-8 is repaired with U+FFFD.
    @inlinable public var string: String { String(decoding: self, as: UTF8.self) }

    /// The sub-view `[from, to)`; bounds are clamped.
    @inlinable public func slice(_ from: Int, _ to: Int) -> Bytes {
        let lo = Swift.max(0, Swift.min(from, count))
        let hi = Swift.max(lo, Swift.min(to, count))
        guard let base = baseAddress else { return Bytes(start: nil, count: 0) }
        return Bytes(start: base + lo, count: hi - lo)
    }

    @inlinable public func dropFirst(_ n: Int) -> Bytes { slice(n, count) }

    /// Index of the first `byte` at or after `from`, or nil.
    @inlinable public func index(of byte: UInt8, from: Int = 0) -> Int? {
        var i = from
        while i < count {
            if self[i] == byte { return i }
            i &+= 1
        }
        return nil
    }

    /// Index of the last `byte`, or nil.
    @inlinable public func lastIndex(of byte: UInt8) -> Int? {
        var i = count - 1
        while i >= 0 {
            if self[i] == byte { return i }
            i &-= 1
        }
        return nil
    }

    /// Index of the first occurrence of `needle` (exact bytes) at or after `from`.
    @inlinable public func find(_ needle: StaticString, from: Int = 0) -> Int? {
        needle.withUTF8Buffer { find($0, from: from) }
    }

    @inlinable public func find(_ needle: Bytes, from: Int = 0) -> Int? {
        let n = needle.count
        guard n > 0, from >= 0, count - from >= n, let base = baseAddress else { return n == 0 ? from : nil }
        if n >= 2 && needle[0] == asciiSpace && needle[1] != asciiSpace {
            // " H=", " C=\"": spaces are everywhere in a log line; jump on the second byte.
            let second = Int32(needle[1])
            var i = from + 1
            let last = count - n + 1
            while i <= last {
                guard let p = memchr(base + i, second, last - i + 1) else { return nil }
                i = base.distance(to: p.assumingMemoryBound(to: UInt8.self))
                if base[i - 1] == asciiSpace && (n == 2 || memcmp(base + i + 1, needle.baseAddress! + 2, n - 2) == 0) { return i - 1 }
                i &+= 1
            }
            return nil
        }
        let first = Int32(needle[0])
        var i = from
        let last = count - n
        while i <= last {
            // memchr jumps to the next candidate first byte.
            guard let p = memchr(base + i, first, last - i + 1) else { return nil }
            i = base.distance(to: p.assumingMemoryBound(to: UInt8.self))
            // The second byte first: needles such as "after " or "in reply to " start with a
            // letter found all over a reply, and a call to memcmp per candidate added up.
            if n == 1 || (base[i + 1] == needle[1] && (n == 2 || memcmp(base + i + 2, needle.baseAddress! + 2, n - 2) == 0)) { return i }
            i &+= 1
        }
        return nil
    }

    /// Whether the bytes at `at` equal `literal`.
    @inlinable public func matches(_ literal: StaticString, at: Int) -> Bool {
        literal.withUTF8Buffer { lit in
            guard at >= 0, at + lit.count <= count else { return false }
            var j = 0
            while j < lit.count {
                if self[at &+ j] != lit[j] { return false }
                j &+= 1
            }
            return true
        }
    }

    @inlinable public func hasPrefix(_ literal: StaticString) -> Bool { matches(literal, at: 0) }

    @inlinable public func hasSuffix(_ literal: StaticString) -> Bool {
        matches(literal, at: count - literal.utf8CodeUnitCount)
    }

    @inlinable public func equals(_ literal: StaticString) -> Bool {
        count == literal.utf8CodeUnitCount && matches(literal, at: 0)
    }

    /// Parses an unsigned decimal number of exactly `digits` digits at `at`.
    @inlinable public func decimal(at: Int, digits: Int) -> Int? {
        guard at >= 0, at + digits <= count else { return nil }
        var v = 0
        var i = at
        while i < at + digits {
            let d = Int(self[i]) &- 48
            if d < 0 || d > 9 { return nil }
            v = v &* 10 &+ d
            i &+= 1
        }
        return v
    }

    @inlinable public func isDigit(at i: Int) -> Bool {
        i >= 0 && i < count && self[i] >= UInt8(ascii: "0") && self[i] <= UInt8(ascii: "9")
    }

    /// The bytes as a string, ASCII letters lower-cased (domains and host names); one copy.
    @inlinable public var lowercasedString: String {
        var upper = false
        for b in self where b >= UInt8(ascii: "A") && b <= UInt8(ascii: "Z") { upper = true; break }
        guard upper else { return String(decoding: self, as: UTF8.self) }
        return String(unsafeUninitializedCapacity: count) { out in
            for i in 0..<count { out[i] = asciiLower(self[i]) }
            return count
        }
    }

    /// The bytes without leading and trailing spaces and tabs.
    @inlinable public func trimmed() -> Bytes {
        var lo = 0
        var hi = count
        while lo < hi && (self[lo] == asciiSpace || self[lo] == asciiTab) { lo &+= 1 }
        while hi > lo && (self[hi - 1] == asciiSpace || self[hi - 1] == asciiTab || self[hi - 1] == 0x0D) { hi &-= 1 }
        return slice(lo, hi)
    }
}

@inlinable func asciiLower(_ b: UInt8) -> UInt8 { (b >= UInt8(ascii: "A") && b <= UInt8(ascii: "Z")) ? b | 0x20 : b }

extension String {
    /// ASCII-only lower-casing (domains and host names), cheap for the common case.
    @inlinable var asciiLowercased: String {
        var needs = false
        for b in utf8 where b >= UInt8(ascii: "A") && b <= UInt8(ascii: "Z") { needs = true; break }
        guard needs else { return self }
        return String(decoding: utf8.map(asciiLower), as: UTF8.self)
    }
}
