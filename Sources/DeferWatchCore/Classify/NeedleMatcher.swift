/// Finds which of a fixed set of literal needles occur in a text, case-insensitively for
/// ASCII, in one pass over the text (an Aho-Corasick automaton compiled to a dense table over
/// a reduced alphabet). Built once per rule set; matching allocates nothing.
public struct NeedleMatcher: Sendable {
    /// Byte -> alphabet symbol (0 = a byte no needle contains).
    private let symbol: [UInt8]
    private let alphabetSize: Int
    /// state * alphabetSize + symbol -> next state: 16-bit when the states fit (the default
    /// rules have about 3,500; half the table's size keeps it in the core's cache), else 32.
    private let next16: [UInt16]
    private let next32: [Int32]
    /// Needle ids recognised on entering a state (including through failure links).
    private let outputStart: [Int32]
    private let outputs: [Int32]
    public let needleCount: Int

    public init(needles: [String]) {
        needleCount = needles.count
        let lowered = needles.map { Array($0.utf8).map(asciiLower) }
        var symbol = [UInt8](repeating: 0, count: 256)
        var size = 1
        for n in lowered {
            for b in n where symbol[Int(b)] == 0 {
                symbol[Int(b)] = UInt8(size)
                size += 1
            }
        }
        // Upper-case letters share the lower-case symbol.
        for b in UInt8(65)...UInt8(90) { symbol[Int(b)] = symbol[Int(b | 0x20)] }
        self.symbol = symbol
        alphabetSize = size

        // Trie.
        var goto: [[Int32]] = [[Int32](repeating: -1, count: size)]
        var out: [[Int32]] = [[]]
        for (id, n) in lowered.enumerated() where !n.isEmpty {
            var s = 0
            for b in n {
                let c = Int(symbol[Int(b)])
                if goto[s][c] < 0 {
                    goto[s][c] = Int32(goto.count)
                    goto.append([Int32](repeating: -1, count: size))
                    out.append([])
                }
                s = Int(goto[s][c])
            }
            out[s].append(Int32(id))
        }
        // Breadth-first: failure links folded into a complete transition table.
        var fail = [Int32](repeating: 0, count: goto.count)
        var table = [Int32](repeating: 0, count: goto.count * size)
        var queue: [Int] = []
        for c in 0..<size {
            let t = goto[0][c]
            if t > 0 {
                table[c] = t
                fail[Int(t)] = 0
                queue.append(Int(t))
            }
        }
        var head = 0
        while head < queue.count {
            let s = queue[head]
            head += 1
            out[s].append(contentsOf: out[Int(fail[s])])
            for c in 0..<size {
                let t = goto[s][c]
                if t >= 0 {
                    fail[Int(t)] = table[Int(fail[s]) * size + c]
                    table[s * size + c] = t
                    queue.append(Int(t))
                } else {
                    table[s * size + c] = table[Int(fail[s]) * size + c]
                }
            }
        }
        if goto.count <= Int(UInt16.max) {
            next16 = table.map { UInt16($0) }
            next32 = []
        } else {
            next16 = []
            next32 = table
        }
        var starts: [Int32] = []
        var flat: [Int32] = []
        for o in out {
            starts.append(Int32(flat.count))
            flat.append(contentsOf: Set(o).sorted())
        }
        starts.append(Int32(flat.count))
        outputStart = starts
        outputs = flat
    }

    /// Marks in `found` (indexed by needle id) every needle that occurs in `text`.
    public func scan(_ text: Bytes, into found: inout [Bool]) {
        if found.count < needleCount { found = [Bool](repeating: false, count: needleCount) }
        if next16.isEmpty {
            next32.withUnsafeBufferPointer { scan(text, $0, &found) }
        } else {
            next16.withUnsafeBufferPointer { scan(text, $0, &found) }
        }
    }

    @inline(__always)
    private func scan<T: BinaryInteger>(_ text: Bytes, _ next: UnsafeBufferPointer<T>, _ found: inout [Bool]) {
        let width = alphabetSize
        // Raw buffers in the loop: it runs once per byte of every failure text, and the
        // arrays' bounds checks were half its cost. Every index is in range by construction
        // (states and symbols come from the table built above).
        symbol.withUnsafeBufferPointer { symbol in
            outputStart.withUnsafeBufferPointer { starts in
                outputs.withUnsafeBufferPointer { outputs in
                    found.withUnsafeMutableBufferPointer { found in
                        var s = 0
                        for b in text {
                            s = Int(next[s &* width &+ Int(symbol[Int(b)])])
                            let lo = Int(starts[s]), hi = Int(starts[s &+ 1])
                            if lo != hi {
                                for k in lo..<hi { found[Int(outputs[k])] = true }
                            }
                        }
                    }
                }
            }
        }
    }
}
