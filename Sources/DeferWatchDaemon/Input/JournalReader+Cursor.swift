#if canImport(Glibc)
import Glibc
#endif
import CSystemd

/// What the cursors say: entries that could not be read (a damaged journal file), told by
/// gaps in the entries' sequence numbers; and the boot ids written in hex.
extension JournalReader {
    func checkBatch(first: (id: UInt64, seq: UInt64), last: (id: UInt64, seq: UInt64)?, count: Int) {
        guard let last else { return }
        guard first.id == last.id, last.seq >= first.seq else {
            perEntry = true
            lastSeq[last.id] = last.seq
            return
        }
        note(first)
        let span = last.seq - first.seq + 1
        if span > UInt64(count) { unreadable &+= Int(clamping: span - UInt64(count)) }
        // Fewer numbers than entries: entries of another id came between.
        if span < UInt64(count) { perEntry = true }
        lastSeq[last.id] = last.seq
    }

    func note(_ s: (id: UInt64, seq: UInt64)) {
        if let last = lastSeq[s.id], s.seq > last &+ 1 { unreadable &+= Int(clamping: s.seq - last - 1) }
        if lastSeq.count < 4096 || lastSeq[s.id] != nil { lastSeq[s.id] = s.seq }
    }

    /// The current entry's sequence-number id (hashed) and number, from its cursor
    /// ("s=ID;i=HEX;b=...").
    func sequence(_ j: OpaquePointer) -> (id: UInt64, seq: UInt64)? {
        var c: UnsafeMutablePointer<CChar>?
        guard sd_journal_get_cursor(j, &c) >= 0, let c else { return nil }
        defer { free(c) }
        var id: UInt64 = 0xcbf2_9ce4_8422_2325
        var seq: UInt64 = 0
        var field: UInt8 = 0
        var p = UnsafeRawPointer(c).assumingMemoryBound(to: UInt8.self)
        var atStart = true
        while p.pointee != 0 {
            let b = p.pointee
            if atStart, p[1] == UInt8(ascii: "=") {
                field = b
                p += 2
                atStart = false
                continue
            }
            atStart = false
            if b == UInt8(ascii: ";") {
                if field == UInt8(ascii: "i") { break }
                atStart = true
                field = 0
            } else if field == UInt8(ascii: "s") {
                id = (id ^ UInt64(b)) &* 0x100_0000_01b3
            } else if field == UInt8(ascii: "i") {
                guard let d = Self.hexDigit(b), seq < UInt64(1) << 59 else { return nil }
                seq = seq << 4 | d
            }
            p += 1
        }
        return (id, seq)
    }

    static func hexDigit(_ b: UInt8) -> UInt64? {
        switch b {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return UInt64(b - UInt8(ascii: "0"))
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return UInt64(b - UInt8(ascii: "a") + 10)
        default: return nil
        }
    }

    static func hex(_ id: sd_id128_t) -> String {
        let digits: [UInt8] = Array("0123456789abcdef".utf8)
        return withUnsafeBytes(of: id.bytes) { raw in
            String(unsafeUninitializedCapacity: raw.count * 2) { out in
                for (i, b) in raw.enumerated() {
                    out[2 * i] = digits[Int(b >> 4)]
                    out[2 * i + 1] = digits[Int(b & 15)]
                }
                return raw.count * 2
            }
        }
    }
}
