#include "actors/ws_session.hpp"

#include <caf/all.hpp>

#include "actors/node_context.hpp"

namespace cti {

namespace {

struct ws_session_state {
  static inline const char* name = "ws_session";
  std::weak_ptr<ws_sink> sink;
};

ws_session_actor::behavior_type ws_session(ws_session_actor::stateful_pointer<ws_session_state> self,
                                           std::shared_ptr<const node_context> ctx,
                                           std::weak_ptr<ws_sink> sink, std::string app_id,
                                           ws_filter filter) {
  self->state.sink = sink;
  // Registered before subscribing: the tenant looks the connection up when
  // the subscription arrives.
  ctx->ws_sinks->add(self->address(), std::move(sink));
  self->attach_functor([dir = ctx->ws_sinks, addr = self->address()] { dir->remove(addr); });
  self->send(ctx->registry, subscribe_atom_v, std::move(app_id),
             caf::actor_cast<caf::actor>(self), std::move(filter));
  return {
    [self](frame_atom, std::string& frame) {
      if (auto s = self->state.sink.lock())
        s->send_text(std::make_shared<const std::string>(std::move(frame)));
      else
        self->quit();
    },
    [self](close_atom, uint16_t code, std::string& reason) {
      if (auto s = self->state.sink.lock())
        s->close(code, std::move(reason));
    },
  };
}

} // namespace

ws_session_actor spawn_ws_session(caf::actor_system& sys, std::shared_ptr<const node_context> ctx,
                                  std::weak_ptr<ws_sink> sink, std::string app_id,
                                  ws_filter filter) {
  return sys.spawn(ws_session, std::move(ctx), std::move(sink), std::move(app_id),
                   std::move(filter));
}

void stop_ws_session(const ws_session_actor& session) {
  caf::anon_send_exit(session, caf::exit_reason::user_shutdown);
}

} // namespace cti
