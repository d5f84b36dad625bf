"""perception-train: train a model on simulated data (camera | panoptic | lidar), or calibrate the fusion;
see each one's --help."""
import sys

TRAINERS = {'camera': 'perception.train.camera', 'panoptic': 'perception.train.panoptic',
            'lidar': 'perception.train.lidar', 'fusion': 'perception.train.fusion',
            'propagation': 'perception.train.propagation'}


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] not in TRAINERS:
        print(f'usage: perception-train {{{"|".join(TRAINERS)}}} [options]  (perception-train camera --help)',
              file=sys.stderr)
        return 2
    module = __import__(TRAINERS[argv[0]], fromlist=['main'])
    return module.main(argv[1:])


if __name__ == '__main__':
    sys.exit(main())
