import DeferWatchCore
import DeferWatchTestSupport
import Testing

/// `find` (memchr on the first byte, or on the second after a leading space) agrees with a
/// plain search on random texts made of the needles' own bytes.
@Suite struct BytesTests {
    static func naive(_ hay: [UInt8], _ needle: [UInt8], from: Int) -> Int? {
        guard needle.count <= hay.count else { return nil }
        var i = max(0, from)
        while i + needle.count <= hay.count {
            if Array(hay[i..<(i + needle.count)]) == needle { return i }
            i += 1
        }
        return nil
    }

    @Test func findAgreesWithAPlainSearch() {
        var rng = SeededRandom.fromEnvironment()
        let needles: [[UInt8]] = [" H=", " C=\"", ": ", "H=", " ", "  ", " x", "defer ("].map { Array($0.utf8) }
        let alphabet = Array(" H=C\"x:(defr".utf8)
        for _ in 0..<3000 {
            let hay = (0..<Int.random(in: 0...40, using: &rng)).map { _ in alphabet.randomElement(using: &rng)! }
            for needle in needles {
                let from = Int.random(in: 0...5, using: &rng)
                let got = hay.withUnsafeBufferPointer { h in needle.withUnsafeBufferPointer { h.find($0, from: from) } }
                #expect(got == Self.naive(hay, needle, from: from), "\(String(decoding: hay, as: UTF8.self)) / \(String(decoding: needle, as: UTF8.self)) from \(from)")
            }
        }
    }
}
