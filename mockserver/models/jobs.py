"""The platform's job-style actions: archives, exports, imports, clones, data removal.

Each action checks its input at once (a mistake is a 400 and queues nothing),
then either queues a job on the engine (:mod:`losant_kit.mockserver.jobs`) whose effect
makes the real change when the job completes, or - where the platform also
documents a synchronous answer - does the work within the request.

Semantics (the "fidelity notes")
--------------------------------
* Concurrency limits come from each operation's ``x-throttle`` in the spec;
  the key is the throttle's ``per``: the application, the device, or the
  owner of the application being created (clone and applications.import share
  the ``import-or-clone`` bucket). Synchronous clones and imports hold the slot
  for the duration of the request, so they too are refused while a queued one
  runs.
* Archives (archiveData, backfillArchiveData, fullDataTablesArchive,
  fullEventsArchive) need an archive destination on the application
  (``archiveConfig`` with ``s3``, ``gcs``, ``azure`` or ``credentialName``),
  else 400. Nothing is uploaded anywhere: the job result records what the
  archive would hold (devices selected by ``archiveConfig.mode``, report and
  event counts), with the destination minus its secrets. ``archiveData``'s
  ``date`` (ms since the epoch) must be at least 31 days old; its UTC day is
  archived. Backfill archives every complete UTC day before today. The mock
  has no data tables, so a data-table archive holds none.
* ``application.export`` is always a job (202), ``forceJob`` or not; its file
  is a JSON bundle (application fields, globals, device recipes and, with
  ``includeDevices``, devices) that ``application.import`` and
  ``applications.import`` accept. ``exportType: "repo"`` is refused (400): the
  mock pushes nowhere. Files, data tables and flows do not exist in the mock.
* ``application.clone`` and both imports run synchronously (clone 201, import
  into an application 200, new application 201) unless ``forceJob`` is set or
  they would create more than :attr:`JobActions.sync_limit` resources; then
  they are jobs (202). ``dryRun`` changes nothing: clone answers 200
  ``{"success": true, "requiresJob": ...}``, application.import answers 200
  with the unchanged application and logs a dry-run execution. A clone is
  named "Copy of <name>", copies globals, device recipes and (with
  ``includeDevices``) devices - never access keys, tokens, events or data.
* Imports read bundles produced by ``application.export`` (the platform's zip
  bundles are not understood: 400). ``options.fromApplicationId`` imports from
  another application of the caller; ``options.importUrl`` is accepted only
  when it is a download URL of this mock (no outbound requests). Conflicts are
  by name (globals by key): ``create`` adds alongside (for globals: replaces),
  ``error`` refuses the import (400), ``retain`` keeps the existing resource,
  ``replace`` overwrites it. ``include`` limits the resource types imported;
  for ``applications.import`` devices come only with ``includeDevices`` or
  ``Device`` in ``options.include``. Device references (gatewayId, parentId)
  are remapped to the new devices.
* ``importLogs`` lists the application's import executions newest first,
  ``limit`` (default 1) of them, ``since`` (ms) filtering on the queue time.
* ``application.applyTemplate``: the mock has no application templates, so
  every template id is a 404.
* Exports of data (device.export, data.export, devices.export,
  devices.payloadCounts, events.export) produce a file kept in the job result
  and served at the result's ``url`` (``/_mock/jobs/<jobId>/download`` on the
  mock's own host). Device data exports are CSV with ``ID`` and ``Date``
  columns (per ``options``) and one column per attribute, one row per state
  report; ``filePerDevice`` is recorded but the mock writes one file.
  Payload counts count state reports and commands per device in the window.
* ``start``/``end`` follow the platform's rule (ms since the epoch, 0 = now,
  negative = relative to now) and are resolved when the job is queued.
  removeData removes state reports in the window and, unless
  ``keepCommandHistory``/``keepConnectionHistory`` (or when only some
  ``attributes`` are removed), the device's commands and connection log
  entries in the window; the devices are those selected when it was queued.
* ``email`` and ``callbackUrl`` are recorded on the job; nothing is sent.
"""

from __future__ import annotations

from losant_kit.mockserver.models.archives import ArchiveActions
from losant_kit.mockserver.models.bundles import BundleActions
from losant_kit.mockserver.models.data_exports import DataActions


class JobActions(ArchiveActions, BundleActions, DataActions):
    """Every job-style action, one facade for the handlers (``backend.job_actions``)."""
