import DeferWatchCore
import Testing

/// The deferred queue's file beside the checkpoint (QueueBook+File): what is written reads
/// back as the same queue, in pieces of bounded size; a file cut short, changed by one
/// byte, of another checkpoint, or of hostile lengths is refused with a reason, never trapped on.
@Suite struct QueueFileTests {
    /// A book of Postfix and Exim messages, several recipients, a bounce and a removal.
    static func book() -> QueueBook {
        var e = QueueTests.engine()
        var lines: [String] = []
        for i in 0..<300 {
            lines.append(QueueTests.pfDeferred("2026-12-01T10:\(String(format: "%02d", i % 60)):00Z", String(format: "Q%08X", i), "u\(i)@d\(i % 7).example"))
            if i % 3 == 0 {
                lines.append(QueueTests.pfDeferred("2026-12-01T10:\(String(format: "%02d", i % 60)):30Z", String(format: "Q%08X", i), "v\(i)@other.example", delay: "900"))
            }
        }
        lines.append("2026-12-01T11:00:00Z mx1 postfix/qmgr[1]: Q00000004: removed")
        lines.append("2026-12-01 11:00:01 1vQx2a-000Abc-5Z == bob@example.net R=dnslookup T=remote_smtp defer (-45) H=mx1.example.net [192.0.2.9]: SMTP error from remote mail server after RCPT TO:<bob@example.net>: 450 4.7.25 Client host rejected: cannot find your hostname")
        QueueTests.feed(&e, lines.joined(separator: "\n"))
        return e.queue!
    }

    static func file(_ b: QueueBook) -> ([UInt8], QueueBook.FileSummary, Int) {
        var bytes: [UInt8] = []
        var biggest = 0
        let summary = b.write { raw in
            bytes.append(contentsOf: raw)
            biggest = max(biggest, raw.count)
            return true
        }
        return (bytes, summary!, biggest)
    }

    @Test func whatIsWrittenReadsBackAsTheSameQueue() throws {
        let b = Self.book()
        #expect(b.count == 300)
        let (bytes, summary, biggest) = Self.file(b)
        #expect(summary.bytes == bytes.count)
        #expect(biggest <= 65_536 + 1024)
        let read = bytes.withUnsafeBytes { QueueBook.readFile($0, expecting: summary) }
        let s = try read.get()
        #expect(s == b.snapshot)
        var restored = QueueBook()
        restored.restore(s)
        #expect(restored.count == b.count)
        #expect(restored.view(at: nil) == b.view(at: nil))
    }

    @Test func aDamagedFileIsRefusedWithAReason() {
        let (bytes, summary, _) = Self.file(Self.book())
        func reason(_ b: [UInt8], _ s: QueueBook.FileSummary) -> String? {
            switch b.withUnsafeBytes({ QueueBook.readFile($0, expecting: s) }) {
            case .success: return nil
            case .failure(let e): return e.description
            }
        }
        #expect(reason(Array(bytes.prefix(bytes.count - 100)), summary)?.contains("the checkpoint says") == true)
        var flipped = bytes
        flipped[bytes.count / 2] ^= 0x40
        #expect(reason(flipped, summary)?.contains("checksum") == true)
        // Another checkpoint's file: the same size, another sum.
        var other = summary
        other.checksum &+= 1
        #expect(reason(bytes, other)?.contains("checksum") == true)
        #expect(reason([], QueueBook.FileSummary(bytes: 0, checksum: 0)) == "is too short")
    }

    /// Lengths that claim more than the file holds, with a correct sum (a hostile file made
    /// to pass the checksum): refused, no allocation of what they claim.
    @Test func hostileLengthsWithARightSumAreRefused() {
        func sealed(_ body: [UInt8]) -> ([UInt8], QueueBook.FileSummary) {
            var h: UInt64 = 0xcbf2_9ce4_8422_2325
            for b in body { h = (h ^ UInt64(b)) &* 0x100_0000_01b3 }
            var out = body
            withUnsafeBytes(of: h.littleEndian) { out += $0 }
            return (out, QueueBook.FileSummary(bytes: out.count, checksum: h))
        }
        let magic = Array("DWQ1".utf8)
        for body in [magic + [0xFF, 0xFF, 0xFF, 0xFF],                      // 4 billion names
                     magic + [1, 0, 0, 0, 0xFF, 0xFF, 0xFF, 0x7F],          // a name of 2 GB
                     magic + [1, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF], // 4 billion messages
                     Array("XXXX".utf8) + [0, 0, 0, 0]] {
            let (f, s) = sealed(body)
            let r = f.withUnsafeBytes { QueueBook.readFile($0, expecting: s) }
            guard case .failure(let e) = r else { Issue.record("taken: \(body)"); continue }
            #expect(e.description.contains("damaged") || e.description.contains("not a deferwatch queue file"), "\(e)")
        }
    }
}
