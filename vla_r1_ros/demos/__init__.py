"""Demos: the pictures and runs the README shows (scripts/demo.sh, scripts/node_demo.sh).

``render_demo`` lifts answers on a rendered tabletop and draws them; ``pick_demo`` runs pick
episodes on the simulated Panda and saves their pictures; ``node_demo`` runs ``vla_r1_node`` on
the simulated camera. The library (``core``, ``model``, ``ros``, ``sim``) never imports them.
"""
