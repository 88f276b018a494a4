"""The VOT toolkit drives tracktune trackers: a TraX server, workspaces and local stacks.

- `server.py`: `tracktune vot serve --checkpoint RUN` is a TraX server (the `vot-trax`
  package) around `tracktune.track.Tracker`: it announces the channels the checkpoint reads
  (`color`, plus `depth` or `ir`), reads each frame's files the way the training data was
  read (`tracktune.data.modalities`: depth colour-mapped, thermal as stored), and answers
  every frame with a rectangle and a `confidence` property (the sigmoid score), which the
  toolkit writes to `<seq>_001_confidence.value` for its long-term analysis.
- `workspace.py`: `tracktune vot workspace --checkpoint RUN --stack STACK DIR` writes a VOT
  workspace (`config.yaml`, `trackers.ini` with one TraX entry starting that server).
- `stack.py`: `tracktune vot stack NAME --root DIR --out STACKDIR` writes a local stack from
  any dataset tracktune loads (VOT sequence layout + a stack file), so the toolkit runs
  offline on one's own data.

The toolkit (vot-toolkit 0.9.0, needs attributee 0.1.9) and the TraX bindings come with the
optional extra `vot` (`pip install 'tracktune[vot]'`). Its result folders
(`results/<tracker>/<experiment>/<seq>/<seq>_001.txt` + `_confidence.value`) are read by
`tracktune evaluate --protocol vot_lt` (the long-term Pr / Re / F analysis).
"""
