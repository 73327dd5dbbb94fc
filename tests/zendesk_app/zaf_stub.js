/*
 * A stand-in for Zendesk's ZAF SDK (zaf_sdk.min.js) in the sidebar's browser tests.
 *
 * The test page loads it instead of the SDK, after `window.ZAF_STUB_STATE` (the ticket,
 * the agent, the ticket fields and the app's non-secure settings the test set up). It
 * implements what the sidebar uses — ZAFClient.init(), client.get / metadata / on /
 * invoke / request — the way the SDK behaves:
 *
 * - get(path) answers {path: value, errors: {}}; a single unknown path rejects, a bulk
 *   get reports it under `errors`. Custom fields are `ticket.customField:custom_field_<id>`.
 * - request(options) goes through "Zendesk's proxy" (`state.proxy`, served by the test):
 *   the proxy, not this page, replaces {{setting.connector_token}} — and only for
 *   `secure: true` requests, as Zendesk does — so the token never reaches the browser.
 *   2xx resolves with the parsed JSON body; anything else rejects with {status,
 *   statusText, responseText, responseJSON} like the SDK's jqXHR-shaped failure.
 * - `ticket.save` handlers run with the SDK's rules: a handler returning false, a string
 *   or an Error, or a promise that rejects, cancels the save with that message; anything
 *   else lets it save. window.__zafStub.save() plays an agent clicking Submit.
 */
(function (root) {
  'use strict';

  var state = root.ZAF_STUB_STATE || {};
  var handlers = {};
  var FIELD = /^ticket\.customField:custom_field_(\d+)$/;

  var stub = root.__zafStub = {
    state: state,
    notifications: [],
    invocations: [],
    requests: [],
    saves: []
  };

  function fieldExists(id) {
    return (state.ticketFields || []).some(function (field) { return field.name === 'custom_field_' + id; });
  }

  function lookup(path) {
    var ticket = state.ticket || {};
    var match = FIELD.exec(path);
    if (match) {
      if (!fieldExists(match[1])) return { error: 'field custom_field_' + match[1] + ' is not on this ticket' };
      var value = (state.fields || {})[match[1]];
      return { value: value === undefined ? null : value };
    }
    switch (path) {
      case 'ticket.id': return { value: ticket.id };
      case 'ticket.status': return { value: ticket.status };
      case 'ticket.customStatus': return { value: ticket.customStatus || null };
      case 'currentUser': return { value: state.currentUser || {} };
      case 'ticketFields': return { value: state.ticketFields || [] };
      default: return { error: 'unknown path ' + path };
    }
  }

  function shouldReject(value) {
    return value === false || value instanceof Error || typeof value === 'string';
  }

  function asPromise(handler) {
    try {
      var result = handler();
      if (result && typeof result.then === 'function') return result;
      return shouldReject(result) ? Promise.reject(result) : Promise.resolve(result);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  function Client() {}

  Client.prototype.get = function (path) {
    var paths = Array.isArray(path) ? path : [path];
    var answer = { errors: {} };
    paths.forEach(function (p) {
      var found = lookup(p);
      if (found.error) answer.errors[p] = { message: found.error };
      else answer[p] = found.value;
    });
    if (!Array.isArray(path) && answer.errors[path]) return Promise.reject(new Error(answer.errors[path].message));
    return Promise.resolve(answer);
  };

  Client.prototype.metadata = function () {
    return Promise.resolve({ appId: 0, installationId: 1, settings: state.settings || {} });
  };

  Client.prototype.on = function (name, handler) {
    (handlers[name] = handlers[name] || []).push(handler);
  };

  Client.prototype.invoke = function (name) {
    var args = Array.prototype.slice.call(arguments, 1);
    stub.invocations.push({ name: name, args: args });
    if (name === 'notify') stub.notifications.push({ message: args[0], kind: args[1], options: args[2] || null });
    var answer = { errors: {} };
    answer[name] = null;
    return Promise.resolve(answer);
  };

  Client.prototype.request = function (options) {
    stub.requests.push({ url: options.url, type: options.type, headers: options.headers, secure: !!options.secure });
    var envelope = {
      url: options.url, type: options.type || 'GET', headers: options.headers || {},
      data: options.data === undefined ? null : options.data, contentType: options.contentType || null,
      secure: !!options.secure
    };
    return fetch(state.proxy, {
      method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(envelope)
    }).then(function (response) {
      return response.json();
    }, function () {
      return { status: 0, statusText: 'error', body: '' };
    }).then(function (answer) {
      var json = null;
      try { json = answer.body ? JSON.parse(answer.body) : null; } catch (e) { json = null; }
      if (answer.status >= 200 && answer.status < 300) return json;
      return Promise.reject({ status: answer.status, statusText: answer.statusText || '',
                              responseText: answer.body || '', responseJSON: json });
    });
  };

  function trigger(name, data) {
    (handlers[name] || []).forEach(function (handler) { handler(data); });
  }

  /** The agent clicks Submit: every ticket.save handler must agree. Resolves with
   *  {saved: true} or {saved: false, message}. */
  stub.save = function () {
    var pending = (handlers['ticket.save'] || []).map(asPromise);
    return Promise.all(pending).then(function () {
      var saved = { saved: true };
      stub.saves.push(saved);
      trigger('ticket.submit.done', {});
      return saved;
    }, function (reason) {
      var message = reason instanceof Error ? reason.message : reason;
      var cancelled = { saved: false, message: message === false ? null : message };
      stub.saves.push(cancelled);
      return cancelled;
    });
  };

  /** The agent changes the ticket in the form (status, field values). */
  stub.setTicket = function (patch) {
    Object.keys(patch).forEach(function (key) { state.ticket[key] = patch[key]; });
  };
  stub.setFields = function (values) {
    state.fields = state.fields || {};
    Object.keys(values).forEach(function (key) { state.fields[key] = values[key]; });
  };
  stub.handlerCount = function (name) {
    return (handlers[name] || []).length;
  };

  root.ZAFClient = {
    init: function () { return new Client(); }
  };
})(window);
