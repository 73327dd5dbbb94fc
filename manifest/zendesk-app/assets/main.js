/*
 * The escalation connector's ticket sidebar and save check (Zendesk Apps framework v2).
 *
 * What the agent sees: the escalation's level and tier and why, each SLA due time as a
 * live countdown in their own time zone (red once breached), what is still missing
 * before the ticket may be escalated, the linked Jira issues and the customer's recent
 * escalations. When the agent saves the ticket into an escalation level, the
 * `ticket.save` hook asks the connector (POST /api/requirements: the same check the
 * connector runs on the webhook) and cancels the save with the list of what is missing.
 * If the connector cannot be reached the save goes ahead and the agent is told that the
 * connector will check it afterwards.
 *
 * Every call to the connector goes through Zendesk's request proxy with the secure
 * setting `connector_token`: Zendesk's servers put the token into the Authorization
 * header, so it never reaches this page.
 *
 * The file has two halves: pure functions (words, times, decisions; exported as
 * window.EscalationSidebar so tests can call them) and the wiring to the ZAF client.
 */
(function (root) {
  'use strict';

  var REQUEST_TIMEOUT_MS = 5000;
  var TICK_MS = 1000;
  var REFRESH_AFTER_SAVE_MS = 4000;
  var STATE_WORDS = {
    on_track: 'on track', at_risk: 'at risk', breached: 'breached', met: 'met', met_late: 'met late'
  };

  // ---------------------------------------------------------------------------------
  // Pure: words and times
  // ---------------------------------------------------------------------------------

  function pad2(n) {
    return (n < 10 ? '0' : '') + n;
  }

  /** A span of time for people: "45 s", "12 min 05 s", "3 h 07 min", "2 d 4 h". */
  function durationText(ms) {
    var s = Math.floor(Math.abs(ms) / 1000);
    if (s < 60) return s + ' s';
    var m = Math.floor(s / 60);
    if (m < 60) return m + ' min ' + pad2(s % 60) + ' s';
    var h = Math.floor(m / 60);
    if (h < 24) return h + ' h ' + pad2(m % 60) + ' min';
    return Math.floor(h / 24) + ' d ' + (h % 24) + ' h';
  }

  /** "in 12 min 05 s" before the due time, "overdue by 3 min 10 s" after it. */
  function countdownText(dueMs, nowMs) {
    var left = dueMs - nowMs;
    return left > 0 ? 'in ' + durationText(left) : 'overdue by ' + durationText(left);
  }

  /** A target's state now (the connector's own rule, re-applied each second so the
   *  countdown turns red the moment a target is breached): met / met_late once met,
   *  else breached at the due time, at_risk from the at-risk time, on_track before. */
  function targetState(target, nowMs) {
    var due = Date.parse(target.due_at);
    if (target.met_at) return Date.parse(target.met_at) <= due ? 'met' : 'met_late';
    if (nowMs >= due) return 'breached';
    if (target.at_risk_at && nowMs >= Date.parse(target.at_risk_at)) return 'at_risk';
    return 'on_track';
  }

  function stateWords(state) {
    return STATE_WORDS[state] || state;
  }

  /** The browser's own time zone (IANA name), UTC if it has none. */
  function browserTimeZone() {
    try {
      return Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC';
    } catch (e) {
      return 'UTC';
    }
  }

  /** ``candidate`` when the browser knows it as a time zone, else the browser's zone. */
  function resolveTimeZone(candidate) {
    if (candidate) {
      try {
        new Intl.DateTimeFormat('en-GB', { timeZone: candidate });
        return candidate;
      } catch (e) { /* not an IANA name: fall back */ }
    }
    return browserTimeZone();
  }

  /** The agent's zone from ZAF's currentUser (timeZone.ianaName), else the browser's. */
  function agentTimeZone(user) {
    var zone = user && user.timeZone;
    return resolveTimeZone(zone && (zone.ianaName || zone.name));
  }

  /** "Mon 23 Nov, 10:30" in ``timeZone``. */
  function formatInZone(ms, timeZone) {
    return new Intl.DateTimeFormat('en-GB', {
      timeZone: timeZone, weekday: 'short', day: 'numeric', month: 'short',
      hour: '2-digit', minute: '2-digit', hourCycle: 'h23'
    }).format(new Date(ms));
  }

  function plural(n, one, many) {
    return n + ' ' + (n === 1 ? one : many);
  }

  /** Why the save was cancelled, listing every field the connector named. */
  function blockedMessage(levelName, missing) {
    var items = missing.map(function (item) { return item.text || (item.title + ': ' + item.reason); });
    return 'Not saved: escalating to ' + levelName + ' needs ' +
      plural(items.length, 'field', 'fields') + ' fixed first — ' + items.join('; ') + '.';
  }

  /** What the agent is told when the save went ahead without the check. */
  function uncheckedMessage(problem) {
    return 'Saved without the escalation check: the escalation connector ' + problem +
      '. The connector checks the escalation when it receives the change and turns it ' +
      'back with a note if anything is missing.';
  }

  /** A failed connector call in words ("could not be reached", "answered 503 …"), and
   *  whether it means the connector is unreachable (network, timeout, 5xx). */
  function describeFailure(failure) {
    if (failure && failure.timeout) {
      return { unreachable: true, problem: 'did not answer within ' + (REQUEST_TIMEOUT_MS / 1000) + ' s' };
    }
    var status = failure && typeof failure.status === 'number' ? failure.status : 0;
    var body = failure && (failure.responseJSON || parseJson(failure.responseText));
    var said = body && body.error ? ': ' + body.error : '';
    if (!status) return { unreachable: true, problem: 'could not be reached' };
    if (status === 502 || status === 503 || status === 504) {
      return { unreachable: true, problem: 'could not be reached (' + status + said + ')' };
    }
    if (status >= 500) return { unreachable: true, problem: 'is not working (it answered ' + status + said + ')' };
    if (status === 401 || status === 403) {
      return { unreachable: false, problem: 'refused the app\'s token (' + status + said + ') — ask an admin to check the app settings' };
    }
    return { unreachable: false, problem: 'answered ' + status + said };
  }

  function parseJson(text) {
    try {
      return text ? JSON.parse(text) : null;
    } catch (e) {
      return null;
    }
  }

  /** The level whose custom status is ``statusId``, or null. */
  function levelFor(config, statusId) {
    var levels = (config && config.levels) || [];
    for (var i = 0; i < levels.length; i++) {
      if (String(levels[i].custom_status_id) === String(statusId)) return levels[i];
    }
    return null;
  }

  /** What the save hook must do, before any connector call:
   *  "allow" (no escalation transition), "unknown" (levels unknown and the status
   *  changes: cannot tell), or "check" with the level being entered. Only entering a
   *  level is an escalation, as on the connector: saving a ticket that stays in its
   *  level is not checked again. */
  function saveIntent(config, savedStatusId, newStatusId) {
    if (newStatusId == null || String(newStatusId) === String(savedStatusId)) return { action: 'allow' };
    if (!config) return { action: 'unknown' };
    var level = levelFor(config, newStatusId);
    return level ? { action: 'check', level: level } : { action: 'allow' };
  }

  function fieldPath(id) {
    return 'ticket.customField:custom_field_' + id;
  }

  /** The POST /api/requirements body from ZAF's answers: field values and the titles
   *  the agent sees, both keyed by Zendesk field id. */
  function checkBody(config, values, ticketFields, ticketId, statusId) {
    var fields = {};
    var titles = {};
    var labels = {};
    (ticketFields || []).forEach(function (field) {
      if (field && field.name && field.label) labels[field.name] = field.label;
    });
    Object.keys(config.fields).forEach(function (name) {
      var id = config.fields[name];
      var value = values ? values[fieldPath(id)] : undefined;
      fields[id] = value === undefined ? null : value;
      if (labels['custom_field_' + id]) titles[id] = labels['custom_field_' + id];
    });
    var body = { fields: fields, titles: titles };
    if (ticketId) body.ticket_id = ticketId;
    if (statusId != null) body.custom_status_id = statusId;
    return body;
  }

  // ---------------------------------------------------------------------------------
  // Wiring: the ZAF client, the connector, the page
  // ---------------------------------------------------------------------------------

  function withTimeout(promise, ms) {
    return new Promise(function (resolve, reject) {
      var timer = setTimeout(function () { reject({ timeout: true }); }, ms);
      promise.then(function (value) { clearTimeout(timer); resolve(value); },
                   function (error) { clearTimeout(timer); reject(error); });
    });
  }

  function Sidebar(client, doc) {
    this.client = client;
    this.doc = doc;
    this.settings = null;
    this.config = null;
    this.ticketId = null;
    this.savedStatusId = null;
    this.timeZone = browserTimeZone();
    this.ticker = null;
  }

  Sidebar.prototype.connector = function (method, path, body) {
    var base = String((this.settings && this.settings.connector_url) || '').replace(/\/+$/, '');
    var options = {
      url: base + path,
      type: method,
      headers: { Authorization: 'Bearer {{setting.connector_token}}' },
      secure: true,
      cors: false,
      dataType: 'json',
      timeout: REQUEST_TIMEOUT_MS
    };
    if (body !== undefined) {
      options.contentType = 'application/json';
      options.data = JSON.stringify(body);
    }
    return withTimeout(Promise.resolve(this.client.request(options)), REQUEST_TIMEOUT_MS);
  };

  Sidebar.prototype.start = function () {
    var self = this;
    self.client.on('ticket.save', function () { return self.onSave(); });
    self.client.on('ticket.submit.done', function () {
      self.readStatus();
      setTimeout(function () { self.refresh(); }, REFRESH_AFTER_SAVE_MS);
    });
    self.client.on('ticket.updated', function () { self.readStatus(); self.refresh(); });
    self.byId('retry').addEventListener('click', function () { self.refresh(); });
    return self.client.metadata().then(function (metadata) {
      self.settings = (metadata && metadata.settings) || {};
      return self.client.get(['ticket.id', 'ticket.customStatus', 'currentUser']);
    }).then(function (data) {
      self.ticketId = data['ticket.id'];
      self.savedStatusId = statusIdOf(data['ticket.customStatus']);
      self.timeZone = agentTimeZone(data.currentUser);
      self.ticker = setInterval(function () { self.tick(); }, TICK_MS);
      return self.refresh();
    });
  };

  function statusIdOf(customStatus) {
    if (customStatus && typeof customStatus === 'object') return customStatus.id == null ? null : customStatus.id;
    return customStatus == null ? null : customStatus;
  }

  Sidebar.prototype.readStatus = function () {
    var self = this;
    return self.client.get('ticket.customStatus').then(function (data) {
      self.savedStatusId = statusIdOf(data['ticket.customStatus']);
    }, function () { /* keep what we had */ });
  };

  Sidebar.prototype.loadConfig = function () {
    var self = this;
    if (self.config) return Promise.resolve(self.config);
    return self.connector('GET', '/api/requirements').then(function (config) {
      self.config = config;
      return config;
    });
  };

  Sidebar.prototype.currentCheck = function (statusId) {
    var self = this;
    var paths = Object.keys(self.config.fields).map(function (name) { return fieldPath(self.config.fields[name]); });
    return Promise.all([self.client.get(paths), self.client.get('ticketFields')]).then(function (answers) {
      var body = checkBody(self.config, answers[0], answers[1].ticketFields, self.ticketId, statusId);
      return self.connector('POST', '/api/requirements', body);
    });
  };

  /** Reload everything the sidebar shows. Never rejects: failures are shown. */
  Sidebar.prototype.refresh = function () {
    var self = this;
    return self.loadConfig().then(function () {
      var level = levelFor(self.config, self.savedStatusId);
      var escalation = self.connector('GET', '/api/tickets/' + self.ticketId + '/escalation').then(
        function (found) { return found; },
        function (failure) {
          if (failure && failure.status === 404) return null; // not escalated (yet)
          throw failure;
        });
      return Promise.all([escalation, self.currentCheck(level ? level.custom_status_id : null)]);
    }).then(function (answers) {
      self.render(answers[0], answers[1]);
    }, function (failure) {
      self.renderFailure(describeFailure(failure));
    });
  };

  /** The ticket.save hook: a promise that rejects with the message to cancel the save. */
  Sidebar.prototype.onSave = function () {
    var self = this;
    return self.client.get('ticket.customStatus').then(function (data) {
      var newStatusId = statusIdOf(data['ticket.customStatus']);
      var intent = saveIntent(self.config, self.savedStatusId, newStatusId);
      if (intent.action === 'allow') return { allow: true };
      return self.loadConfig().then(function (config) {
        var level = levelFor(config, newStatusId);
        if (!level) return { allow: true };
        return self.currentCheck(newStatusId).then(function (answer) {
          if (answer.may_escalate) return { allow: true, answer: answer };
          return { allow: false, message: blockedMessage(level.name, answer.missing), answer: answer };
        });
      });
    }).then(null, function (failure) {
      return { allow: true, warning: uncheckedMessage(describeFailure(failure).problem) };
    }).then(function (verdict) {
      if (verdict.answer) self.renderMissing(verdict.answer);
      if (verdict.warning) {
        self.notice('unreachable', verdict.warning);
        Promise.resolve(self.client.invoke('notify', verdict.warning, 'alert', { sticky: true })).catch(function () {});
      }
      if (!verdict.allow) return Promise.reject(verdict.message);
      return true;
    });
  };

  // -- the page ----------------------------------------------------------------------

  Sidebar.prototype.byId = function (id) {
    return this.doc.getElementById(id);
  };

  Sidebar.prototype.el = function (tag, className, text) {
    var node = this.doc.createElement(tag);
    if (className) node.className = className;
    if (text != null) node.textContent = text;
    return node;
  };

  Sidebar.prototype.show = function (id, visible) {
    this.byId(id).hidden = !visible;
  };

  Sidebar.prototype.notice = function (kind, text) {
    var notice = this.byId('notice');
    notice.className = 'notice ' + kind;
    notice.textContent = text;
    notice.hidden = !text;
  };

  Sidebar.prototype.render = function (escalation, check) {
    this.show('retry-row', false);
    if (!escalation) {
      this.notice('none', 'Not escalated yet.');
      ['escalation', 'sla', 'jira', 'recent'].forEach(function (id) { this.show(id, false); }, this);
    } else {
      this.notice('', '');
      this.renderEscalation(escalation);
    }
    this.renderMissing(check);
    this.tick();
    this.resize();
  };

  Sidebar.prototype.renderEscalation = function (e) {
    this.show('escalation', true);
    this.byId('level').textContent = e.level || '';
    var tier = this.byId('tier');
    tier.textContent = e.tier ? e.tier.key + (e.tier.name ? ' · ' + e.tier.name : '') : '';
    tier.className = 'badge tier' + (e.tier ? ' tier-' + e.tier.key : '');
    var state = this.byId('state');
    state.textContent = e.state === 'blocked' ? 'blocked — incomplete' : e.state;
    state.className = 'state ' + e.state;
    var why = '';
    if (e.tier) {
      why = e.tier.rules.length ? 'Why: ' + e.tier.rules.join('; ') : 'Why: no tier rule fired, so the default tier applies';
    } else if (e.state === 'blocked') {
      why = 'Turned back ' + plural(e.blocked_count, 'time', 'times') + ': the record was incomplete.';
    }
    this.byId('tier-why').textContent = why;

    var targets = this.byId('targets');
    targets.textContent = '';
    var rows = (e.sla.targets || []).map(function (t) { return t; });
    if (e.sla.next_update_due_at) {
      rows.push({ name: 'next_update', label: 'Next customer update', due_at: e.sla.next_update_due_at,
                  at_risk_at: null, met_at: null });
    }
    rows.forEach(function (target) {
      var li = this.el('li', 'target');
      li.setAttribute('data-target', target.name);
      li.setAttribute('data-due', target.due_at);
      if (target.at_risk_at) li.setAttribute('data-at-risk', target.at_risk_at);
      if (target.met_at) li.setAttribute('data-met', target.met_at);
      li.appendChild(this.el('span', 'target-name', target.label));
      li.appendChild(this.doc.createTextNode(' '));
      li.appendChild(this.el('span', 'due', 'due ' + formatInZone(Date.parse(target.due_at), this.timeZone)));
      li.appendChild(this.el('span', 'countdown'));
      targets.appendChild(li);
    }, this);
    this.byId('timezone').textContent = 'Times in ' + this.timeZone;
    this.show('sla', rows.length > 0);

    var jira = this.byId('jira-list');
    jira.textContent = '';
    (e.jira || []).forEach(function (link) {
      var li = this.el('li');
      var key = link.url ? this.el('a', 'jira-key', link.key) : this.el('span', 'jira-key', link.key);
      if (link.url) {
        key.href = link.url;
        key.target = '_blank';
        key.rel = 'noopener noreferrer';
      }
      li.appendChild(key);
      li.appendChild(this.el('span', 'jira-status',
        ' — ' + (link.status || 'status unknown') + (link.resolution ? ' (' + link.resolution + ')' : '')));
      jira.appendChild(li);
    }, this);
    this.show('jira', (e.jira || []).length > 0);

    var recent = this.byId('recent-list');
    recent.textContent = '';
    (e.recent || []).forEach(function (other) {
      var li = this.el('li');
      var link = this.el('a', 'ticket', '#' + other.ticket_id);
      link.href = '#';
      link.addEventListener('click', function (event) {
        event.preventDefault();
        this.client.invoke('routeTo', 'ticket', other.ticket_id);
      }.bind(this));
      li.appendChild(link);
      var meta = [other.tier, other.level, other.resolution || other.state].filter(Boolean).join(' · ');
      li.appendChild(this.el('span', 'meta', ' ' + meta));
      if (other.subject) li.appendChild(this.el('div', 'subject', other.subject));
      recent.appendChild(li);
    }, this);
    this.show('recent', (e.recent || []).length > 0);
  };

  Sidebar.prototype.renderMissing = function (check) {
    if (!check) return;
    var section = this.byId('missing');
    var list = this.byId('missing-list');
    list.textContent = '';
    var inLevel = String(check.level.custom_status_id) === String(this.savedStatusId);
    this.byId('missing-title').textContent = (inLevel ? 'Escalation record for ' : 'Before escalating to ') +
      check.level.name;
    if (check.may_escalate) {
      section.className = 'complete';
      this.byId('missing-summary').textContent = 'Everything the escalation needs is filled in.';
    } else {
      section.className = 'incomplete';
      this.byId('missing-summary').textContent = plural(check.missing.length, 'field needs', 'fields need') + ' attention:';
      check.missing.forEach(function (item) {
        var li = this.el('li');
        li.setAttribute('data-field', item.field);
        li.appendChild(this.el('span', 'field', item.title));
        li.appendChild(this.doc.createTextNode(': ' + item.reason));
        list.appendChild(li);
      }, this);
    }
    section.hidden = false;
    this.resize();
  };

  Sidebar.prototype.renderFailure = function (failure) {
    var text = 'The escalation connector ' + failure.problem + '.' + (failure.unreachable
      ? ' Saving still works; the connector checks escalations when it receives them.' : '');
    this.notice(failure.unreachable ? 'unreachable' : 'error', text);
    this.show('retry-row', true);
    this.resize();
  };

  /** Every second: each countdown's text and colour from the current time. */
  Sidebar.prototype.tick = function (nowMs) {
    var now = nowMs == null ? Date.now() : nowMs;
    var rows = this.doc.querySelectorAll('#targets li[data-due]');
    for (var i = 0; i < rows.length; i++) {
      var row = rows[i];
      var target = { due_at: row.getAttribute('data-due'), at_risk_at: row.getAttribute('data-at-risk'),
                     met_at: row.getAttribute('data-met') };
      var state = targetState(target, now);
      row.className = 'target sla-' + state;
      row.setAttribute('data-state', state);
      var text = target.met_at ? stateWords(state) : countdownText(Date.parse(target.due_at), now);
      if (state === 'at_risk') text += ' — at risk';
      row.querySelector('.countdown').textContent = text;
    }
  };

  Sidebar.prototype.resize = function () {
    var height = Math.ceil(this.doc.documentElement.scrollHeight);
    Promise.resolve(this.client.invoke('resize', { width: '100%', height: height + 'px' })).catch(function () {});
  };

  root.EscalationSidebar = {
    durationText: durationText,
    countdownText: countdownText,
    targetState: targetState,
    stateWords: stateWords,
    resolveTimeZone: resolveTimeZone,
    agentTimeZone: agentTimeZone,
    formatInZone: formatInZone,
    blockedMessage: blockedMessage,
    uncheckedMessage: uncheckedMessage,
    describeFailure: describeFailure,
    levelFor: levelFor,
    saveIntent: saveIntent,
    checkBody: checkBody,
    Sidebar: Sidebar
  };

  if (root.ZAFClient && root.document) {
    var sidebar = new Sidebar(root.ZAFClient.init(), root.document);
    root.EscalationSidebar.instance = sidebar;
    sidebar.start().then(null, function (error) {
      sidebar.notice('error', 'The sidebar could not start: ' + (error && error.message ? error.message : error));
    });
  }
})(this);
