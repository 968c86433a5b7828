import DeferWatchCore
import NIOCore
import NIOHTTP1
import Synchronization

/// Connections served at once.
final class ClientCount: Sendable {
    private let count = Mutex(0)
    let limit: Int
    init(limit: Int) { self.limit = limit }
    func enter() -> Bool {
        count.withLock { n in
            guard n < limit else { return false }
            n += 1
            return true
        }
    }
    func leave() { count.withLock { $0 -= 1 } }
}

/// Refuses connections that send more than a request can need (before any parsing), so a
/// huge request costs at most `limit` bytes of memory.
final class RequestSizeLimit: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    typealias OutboundOut = ByteBuffer
    private let limit: Int
    private var seen = 0
    private var refused = false

    init(limit: Int) { self.limit = limit }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !refused else { return }
        let buffer = unwrapInboundIn(data)
        seen += buffer.readableBytes
        if seen > limit {
            refused = true
            let channel = context.channel
            let text = "HTTP/1.1 413 Content Too Large\r\nContent-Type: application/json\r\nContent-Length: 44\r\nConnection: close\r\n\r\n{\"error\":\"request larger than 64 KiB\"}\r\n\r\n\r\n"
            context.writeAndFlush(wrapOutboundOut(context.channel.allocator.buffer(string: text))).whenComplete { _ in
                channel.close(promise: nil)
            }
            return
        }
        context.fireChannelRead(data)
    }
}

/// One request, one response, then the connection closes.
final class StatusHTTPHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let router: StatusRouter
    private var head: HTTPRequestHead?
    private var responded = false

    init(router: StatusRouter) { self.router = router }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !responded else { return }
        switch unwrapInboundIn(data) {
        case .head(let h):
            if h.headers.contains(name: "transfer-encoding")
                || (h.headers.first(name: "content-length").flatMap(Int.init) ?? 0) > 0 {
                respond(context, StatusRouter.Response(status: 413, contentType: "application/json",
                                                       body: Array("{\"error\":\"requests have no body\"}\n".utf8)))
            } else {
                head = h
            }
        case .body:
            respond(context, StatusRouter.Response(status: 413, contentType: "application/json",
                                                   body: Array("{\"error\":\"requests have no body\"}\n".utf8)))
        case .end:
            guard let head else { return }
            respond(context, router.route(method: head.method.rawValue, uri: head.uri))
        }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is IdleStateHandler.IdleStateEvent {
            if !responded {
                respond(context, StatusRouter.Response(status: 408, contentType: "application/json",
                                                       body: Array("{\"error\":\"request not received in time\"}\n".utf8)))
            }
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        context.close(promise: nil)
    }

    private func respond(_ context: ChannelHandlerContext, _ r: StatusRouter.Response) {
        responded = true
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: r.contentType)
        headers.add(name: "Content-Length", value: String(r.body.count))
        headers.add(name: "Connection", value: "close")
        headers.add(name: "Cache-Control", value: "no-store")
        let status = HTTPResponseStatus(statusCode: r.status)
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: status, headers: headers))), promise: nil)
        context.write(wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(bytes: r.body)))), promise: nil)
        let channel = context.channel
        context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in channel.close(promise: nil) }
    }
}
