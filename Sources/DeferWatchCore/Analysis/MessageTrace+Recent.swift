extension MessageTrace {
    /// The daemon's recent memory of mail lines, for `deferwatch status trace`: every
    /// Postfix and Exim line that names a message, with its attempt as the daemon classified
    /// it, newest kept, within a budget of bytes (`[queue] trace_bytes`); the oldest go first.
    /// A queue in an array: the forgotten lines' slots before `head` are given back in one
    /// move once they are half of it, so each line costs O(1), amortised.
    public struct Recent: Sendable {
        public let budget: Int
        private var ring: [Line] = []
        /// The index of the oldest line kept.
        private var head = 0
        /// Lines that were forgotten for room, and what the kept ones weigh.
        public private(set) var forgotten = 0
        public private(set) var bytes = 0

        public init(budget: Int) { self.budget = max(0, budget) }

        public var count: Int { ring.count - head }

        /// The oldest line's time still kept.
        public var oldestTime: Int64? {
            lines.lazy.compactMap(\.time).first
        }

        public mutating func append(_ l: Line) {
            let w = l.weight
            guard w <= budget else { forgotten += 1; return }
            // Forget the oldest until the line fits.
            while bytes + w > budget, head < ring.count { dropOldest() }
            ring.append(l)
            bytes += w
        }

        private mutating func dropOldest() {
            bytes -= ring[head].weight
            // The slot gives its strings back now, not at the next compaction.
            ring[head] = Line.empty
            forgotten += 1
            head += 1
            if head == ring.count {
                ring.removeAll(keepingCapacity: true)
                head = 0
            } else if head > 1024 && head * 2 > ring.count {
                ring.removeFirst(head)
                head = 0
            }
        }

        /// The lines kept, oldest first.
        public var lines: ArraySlice<Line> { ring[head...] }

        /// Both passes of `trace` over the lines kept: the messages the query names (and the
        /// bounces they created), each with every line of it.
        public func trace(_ query: Query, limit: Int = 1_000) -> [Trace] {
            var finder = Finder(query: query)
            finder.limit = limit
            for l in lines { finder.take(l) }
            guard !finder.matched.isEmpty else { return [] }
            var collector = Collector(finder)
            for l in lines { collector.take(l) }
            return collector.result
        }
    }
}
