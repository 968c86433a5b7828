#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The relay host names of recent lines, by their bytes as logged: each lower-cased String
/// is made once, with the provider its name belongs to, so a busy relay costs no allocation,
/// no lower-casing and no string hashing per line. Direct-mapped and bounded: a collision
/// replaces the slot, so hostile names cost at most a miss, never a longer search. One per
/// parsing pipeline (not shared between threads).
public struct RelayNames {
    private struct Slot {
        var bytes: [UInt8]
        var name: String
        var provider: Int32
    }

    private var slots: [Slot?]
    private let rules: RuleSet?

    /// - rules: whose providers the names are looked up in; nil: no provider lookups.
    public init(rules: RuleSet?, slots: Int = 4096) {
        precondition(slots > 0 && slots & (slots - 1) == 0, "a power of two")
        self.rules = rules
        self.slots = Array(repeating: nil, count: slots)
    }

    /// The lower-cased name of the host in `bytes`, and the index of its provider by the
    /// relay rules (-1: none; nil: not looked up, there are no rules).
    public mutating func name(_ bytes: Bytes) -> (name: String, provider: Int32?) {
        var h: UInt64 = 0xCBF2_9CE4_8422_2325
        for b in bytes { h = (h ^ UInt64(b)) &* 0x0000_0100_0000_01B3 }
        let i = Int(truncatingIfNeeded: h ^ (h >> 29)) & (slots.count - 1)
        if let s = slots[i], s.bytes.count == bytes.count,
           s.bytes.withUnsafeBufferPointer({ a in a.isEmpty || memcmp(a.baseAddress!, bytes.baseAddress!, a.count) == 0 }) {
            return (s.name, rules == nil ? nil : s.provider)
        }
        let name = bytes.lowercasedString
        guard let rules else { return (name, nil) }
        let p = rules.providerIndex(relay: name, domain: nil).map { Int32($0) } ?? -1
        slots[i] = Slot(bytes: Array(bytes), name: name, provider: p)
        return (name, p)
    }
}
