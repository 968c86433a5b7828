/// When each open alert next needs a look (to resolve, escalate or be reminded of), as a
/// min-heap of (time, alert id): the periodic check looks only at the alerts that may be
/// due, so its cost follows the alerts that change, not the alerts open.
///
/// The times are lower bounds: an alert looked at too early is simply put back with its
/// next time. An id may be in the heap more than once, or after its alert closed; the
/// tracker skips those.
struct DueQueue {
    private var heap: [(time: Int64, id: Int)] = []

    mutating func removeAll() { heap.removeAll(keepingCapacity: false) }

    mutating func push(_ time: Int64, _ id: Int) {
        heap.append((time, id))
        var i = heap.count - 1
        while i > 0 {
            let parent = (i - 1) / 2
            guard heap[i].time < heap[parent].time else { break }
            heap.swapAt(i, parent)
            i = parent
        }
    }

    /// The ids due at or before `now`, each once, removed from the heap.
    mutating func popDue(_ now: Int64) -> Set<Int> {
        var out = Set<Int>()
        while let top = heap.first, top.time <= now {
            out.insert(top.id)
            let last = heap.removeLast()
            guard !heap.isEmpty else { break }
            heap[0] = last
            var i = 0
            while true {
                let l = 2 * i + 1, r = l + 1
                var m = i
                if l < heap.count && heap[l].time < heap[m].time { m = l }
                if r < heap.count && heap[r].time < heap[m].time { m = r }
                if m == i { break }
                heap.swapAt(i, m)
                i = m
            }
        }
        return out
    }
}
