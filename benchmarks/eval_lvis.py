# Copyright (c) apa_mmdet contributors.
"""LVIS evaluation: mmdet's LVISMetric (lvis-api) vs FastLVISMetric.

Generates a long-tailed LVIS-format validation set (default 500 images,
100 categories; r/c/f groups in LVIS v1's proportions, 337/461/405 of
1,203; neg/not-exhaustive ids) and a fixed,
seeded set of detections (ground truth with wrong labels and jitter plus
random boxes, ``--dets`` per image, masks included). The random boxes are
labelled with any category (``--labels any``: most are of categories that
LVIS does not evaluate on their image, which both backends ignore) or only
with the image's evaluated ones, its ground-truth and negative categories
(``--labels evaluated``: every detection is matched). For bbox and for segm,
each backend runs the whole metric as mmdet runs it, ``process`` (keeping
the predictions, mask RLE encoding) + ``evaluate``, in a fresh process so
that its peak RSS is its own (detections are generated one image at a time
and not counted); runs alternate between backends and the medians are
compared. Prints a table (time, peak RSS and what the metric adds to the
process's resident memory, the size of what rank 0 would gather), the
speed-ups and every metric of both side by side with the largest
difference; with several ``--images`` sizes, how each scales.

``--real-sizes``: the images take LVIS val's sizes (640 on the long side,
the short side drawn from LVIS's common aspect ratios; ground truth scaled
with them) and the random detections a mask head's masks: filled ellipses
inscribed in boxes 20–300 px a side.

``--encoding N`` times only the mask encoding (pycocotools, mmdet's
``encode_mask_results`` and ``FastLVISMetric``'s) on N such images.

Usage: ``python -m benchmarks.eval_lvis [--images 500 [N ...]]
[--classes 100] [--dets 100] [--labels any|evaluated] [--real-sizes]
[--repeats 3] [--backends B ...] [--iou-types T ...]``; LVIS scale:
``--images 1250 5000 --classes 1203 --dets 300 --repeats 1`` (every
category needs a validation image, so at least 1,203 images).
"""
import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time

from ._common import ROOT, worker_command

BACKENDS = ('LVISMetric', 'FastLVISMetric')
IOU_TYPES = ('bbox', 'segm')


def evaluated_labels(dataset: dict) -> dict:
    """Per image id, the labels (category indices) LVIS evaluates there."""
    index = {c['id']: i for i, c in enumerate(dataset['categories'])}
    labels = {image['id']: {index[c] for c in image['neg_category_ids']}
              for image in dataset['images']}
    for ann in dataset['annotations']:
        labels[ann['image_id']].add(index[ann['category_id']])
    return {image_id: sorted(ids) for image_id, ids in labels.items()}


# LVIS v1 val's most common image shapes (long side 640): short sides and
# their shares, portrait or landscape alike
_SHORT_SIDES = (480, 427, 425, 360, 512, 640, 426, 423, 400, 383)
_SHORT_SIDE_SHARES = (.42, .20, .08, .06, .05, .05, .05, .04, .03, .02)


def lvis_val_sizes(ann_file: str, seed: int = 0) -> None:
    """Give every image of a generated LVIS file one of LVIS val's sizes
    (640 on the long side, landscape two times in three), scaling its
    objects' boxes, polygons and areas with it."""
    import numpy as np
    rng = np.random.default_rng(seed)
    with open(ann_file) as f:
        dataset = json.load(f)
    scale = {}
    for image in dataset['images']:
        short = int(rng.choice(_SHORT_SIDES, p=_SHORT_SIDE_SHARES))
        height, width = (short, 640) if rng.random() < 2 / 3 else (640, short)
        scale[image['id']] = (width / image['width'],
                              height / image['height'])
        image['height'], image['width'] = height, width
    for ann in dataset['annotations']:
        sx, sy = scale[ann['image_id']]
        x, y, w, h = ann['bbox']
        ann['bbox'] = [x * sx, y * sy, w * sx, h * sy]
        ann['segmentation'] = [[v * (sx if i % 2 == 0 else sy)
                                for i, v in enumerate(polygon)]
                               for polygon in ann['segmentation']]
        ann['area'] *= sx * sy
    with open(ann_file, 'w') as f:
        json.dump(dataset, f)


def _random_boxes(rng, count: int, h: int, w: int, real_sizes: bool):
    """``count`` xyxy boxes inside an h×w image: 20–300 px a side
    (log-uniform) at real sizes, else anywhere from 8 px to the image."""
    import numpy as np
    if real_sizes:
        wh = np.exp(rng.uniform(np.log(20), np.log(300), (count, 2)))
        wh = np.minimum(wh, [w, h])
        xy = rng.uniform(0, 1, (count, 2)) * ([w, h] - wh)
        return np.concatenate([xy, xy + wh], 1)
    xy = rng.uniform(0, [w - 8, h - 8], (count, 2))
    wh = rng.uniform(8, [w, h], (count, 2))
    return np.concatenate([xy, np.minimum(xy + wh, [w, h])], 1)


def _box_masks(boxes, h: int, w: int, ellipses: bool):
    """Masks filling their boxes: inscribed ellipses (a mask head's
    shape), or the whole box."""
    import cv2
    import numpy as np
    masks = np.zeros((len(boxes), h, w), dtype=np.uint8)
    for mask, (x0, y0, x1, y1) in zip(masks, boxes):
        if ellipses:
            cv2.ellipse(mask, (int((x0 + x1) / 2), int((y0 + y1) / 2)),
                        (max(int((x1 - x0) / 2), 1),
                         max(int((y1 - y0) / 2), 1)), 0, 0, 360, 1, -1)
        else:
            mask[int(y0):int(y1), int(x0):int(x1)] = 1
    return masks.view(bool)


def detections(ann_file: str, dets_per_image: int, labels: str, seed: int,
               real_sizes: bool = False):
    """Yield one mmdet data sample per image (generated, never stored)."""
    import numpy as np
    import torch

    from apa_mmdet.testing.predictions import iter_ground_truth_predictions
    with open(ann_file) as f:
        dataset = json.load(f)
    pools = evaluated_labels(dataset) if labels == 'evaluated' else {}
    every_label = np.arange(len(dataset['categories']))
    rng = np.random.default_rng(seed)
    for sample in iter_ground_truth_predictions(ann_file, 0.2, seed):
        pred = dict(sample['pred_instances'])
        h, w = sample['ori_shape']
        extra = dets_per_image - len(pred['scores'])
        boxes = _random_boxes(rng, extra, h, w, real_sizes)
        masks = _box_masks(boxes, h, w, ellipses=real_sizes)
        pred['bboxes'] = torch.cat([
            pred['bboxes'] + torch.from_numpy(
                rng.normal(0, 2, pred['bboxes'].shape).astype(np.float32)),
            torch.from_numpy(boxes.astype(np.float32))])
        pred['masks'] = torch.cat([pred['masks'], torch.from_numpy(masks)])
        pool = pools.get(sample['img_id'], every_label)
        pred['labels'] = torch.cat([
            pred['labels'], torch.from_numpy(rng.choice(pool, extra))])
        pred['scores'] = torch.from_numpy(
            rng.random(dets_per_image).astype(np.float32))
        yield dict(sample, pred_instances=pred)


def rss_mb() -> float:
    with open('/proc/self/statm') as f:
        return int(f.read().split()[1]) * os.sysconf('SC_PAGE_SIZE') / 2**20


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class _ByteCount:
    """A file that keeps only how many bytes were written to it."""

    def __init__(self) -> None:
        self.size = 0

    def write(self, data) -> int:
        self.size += len(data)
        return len(data)


def pickled_mb(value) -> float:
    """The size of ``value`` pickled (what a rank sends to rank 0), counted
    as it streams, so that measuring it holds no copy."""
    import pickle
    count = _ByteCount()
    pickle.dump(value, count, protocol=4)
    return count.size / 2**20


def worker(backend: str, ann_file: str, dets_per_image: int, labels: str,
           iou_type: str, pinned: bool, real_sizes: bool) -> dict:
    from mmdet.evaluation import LVISMetric

    from apa_mmdet.evaluation import FastLVISMetric
    from apa_mmdet.utils import pin_mmap_threshold
    cls = LVISMetric if backend == 'LVISMetric' else FastLVISMetric
    if pinned:  # as tools/test.py runs
        assert pin_mmap_threshold()
    baseline = rss_mb()
    process_seconds, count = 0., 0
    start = time.perf_counter()
    metric = cls(ann_file=ann_file, metric=iou_type)
    metric.dataset_meta = dict(classes=None)
    process_seconds += time.perf_counter() - start  # LVISMetric loads here
    for sample in detections(ann_file, dets_per_image, labels, seed=0,
                             real_sizes=real_sizes):
        t0 = time.perf_counter()
        metric.process({}, [sample])
        process_seconds += time.perf_counter() - t0
        count += 1
    peaks = dict(process=_peak_rss_mb())
    gathered_mb = pickled_mb(metric.results)
    peaks['gather measure'] = _peak_rss_mb()
    t0 = time.perf_counter()
    results = metric.evaluate(size=count)
    evaluate_seconds = time.perf_counter() - t0
    peak = peaks['evaluate'] = _peak_rss_mb()
    return dict(
        peak_rss_by_phase_mb=peaks,
        seconds=process_seconds + evaluate_seconds,
        process_seconds=process_seconds,
        evaluate_seconds=evaluate_seconds,
        peak_rss_mb=peak, added_rss_mb=peak - baseline,
        gathered_mb=gathered_mb, metrics=results)


def lvis_frequency_groups(ann_file: str) -> None:
    """Rewrite the categories' r/c/f groups in LVIS v1's proportions
    (337 rare, 461 common, 405 frequent of 1,203), by training image
    count."""
    with open(ann_file) as f:
        dataset = json.load(f)
    categories = sorted(dataset['categories'],
                        key=lambda c: (c['image_count'], c['id']))
    rare = round(len(categories) * 337 / 1203)
    common = round(len(categories) * 461 / 1203)
    for rank, category in enumerate(categories):
        category['frequency'] = ('r' if rank < rare else
                                 'c' if rank < rare + common else 'f')
    with open(ann_file, 'w') as f:
        json.dump(dataset, f)


def mask_encoding(images: int, dets: int, repeats: int) -> None:
    """Time apa_mmdet's extent-based encoding against pycocotools' encode of
    the full masks (from a column-major copy, as mmdet's
    ``encode_mask_results`` needs one), side by side on the same
    mask-head-like masks at LVIS val's sizes; check they give the same
    RLEs."""
    import numpy as np
    import pycocotools.mask as mask_util
    from mmdet.structures.mask import encode_mask_results

    from apa_mmdet.evaluation.functional import encode_masks
    rng = np.random.default_rng(0)
    times = {'mmdet encode_mask_results': [], 'pycocotools (full masks)': [],
             'encode_masks (extents)': []}
    for _ in range(images):
        short = int(rng.choice(_SHORT_SIDES, p=_SHORT_SIDE_SHARES))
        h, w = (short, 640) if rng.random() < 2 / 3 else (640, short)
        masks = _box_masks(_random_boxes(rng, dets, h, w, True), h, w, True)
        for _ in range(repeats):
            start = time.perf_counter()
            encode_mask_results(masks)
            times['mmdet encode_mask_results'].append(time.perf_counter() -
                                                      start)
            start = time.perf_counter()
            full = mask_util.encode(np.asfortranarray(
                masks.transpose(1, 2, 0).view(np.uint8)))
            times['pycocotools (full masks)'].append(time.perf_counter() -
                                                     start)
            start = time.perf_counter()
            ours = encode_masks(masks)
            times['encode_masks (extents)'].append(time.perf_counter() -
                                                   start)
        assert ours == full
    sys.stdout.write(f'mask encoding, {images} images of LVIS val sizes x '
                     f'{dets} mask-head-like masks, {repeats} runs each '
                     '(interleaved), identical RLEs\n')
    for name, values in times.items():
        sys.stdout.write(f'{name:28} {statistics.median(values) * 1e3:8.1f} '
                         'ms per image (median)\n')
    ours = statistics.median(times['encode_masks (extents)'])
    sys.stdout.write('speed-up: {:.1f}x pycocotools, {:.1f}x mmdet\n'.format(
        statistics.median(times['pycocotools (full masks)']) / ours,
        statistics.median(times['mmdet encode_mask_results']) / ours))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--images', type=int, nargs='+', default=[500])
    parser.add_argument('--classes', type=int, default=100)
    parser.add_argument('--dets', type=int, default=100)
    parser.add_argument('--labels', choices=['any', 'evaluated'],
                        default='any')
    parser.add_argument('--encoding', type=int, metavar='IMAGES',
                        help='only time the mask encoding on this many '
                        'images (LVIS val sizes, --dets masks each)')
    parser.add_argument('--real-sizes', action='store_true',
                        help="LVIS val's image sizes and mask-head-like "
                        'masks (see above)')
    parser.add_argument('--repeats', type=int, default=3)
    parser.add_argument('--backends', nargs='+', choices=BACKENDS,
                        default=list(BACKENDS),
                        help='default: both, side by side')
    parser.add_argument('--iou-types', nargs='+', choices=IOU_TYPES,
                        default=list(IOU_TYPES))
    parser.add_argument('--glibc-default', action='store_true',
                        help="leave glibc's mmap threshold dynamic (tools/"
                        'test.py pins it; see apa_mmdet.utils.memory)')
    parser.add_argument('--worker', choices=BACKENDS)
    parser.add_argument('--ann-file')
    parser.add_argument('--iou-type', choices=IOU_TYPES)
    args = parser.parse_args()
    if args.encoding:
        mask_encoding(args.encoding, args.dets, args.repeats)
        return
    if args.worker:
        sys.stdout.write(json.dumps(
            worker(args.worker, args.ann_file, args.dets, args.labels,
                   args.iou_type, not args.glibc_default, args.real_sizes)) +
                         '\n')
        return
    from apa_mmdet.datasets.synthetic import generate_lvis
    scaling = {}
    for images in args.images:
        with tempfile.TemporaryDirectory() as root:
            ann_file = generate_lvis(
                root, num_classes=args.classes, num_train=args.classes,
                num_val=images, image_size=128, seed=0)['val']
            lvis_frequency_groups(ann_file)
            if args.real_sizes:
                lvis_val_sizes(ann_file)
            for iou_type in args.iou_types:
                runs = {b: [] for b in args.backends}
                for _ in range(args.repeats):
                    for backend in args.backends:  # interleaved: A B A B
                        out = subprocess.run(
                            worker_command(
                                __spec__.name, '--worker', backend,
                                '--ann-file', ann_file, '--dets',
                                str(args.dets), '--labels', args.labels,
                                '--iou-type', iou_type,
                                *(['--glibc-default']
                                  if args.glibc_default else []),
                                *(['--real-sizes']
                                  if args.real_sizes else [])),
                            check=True, capture_output=True, text=True,
                            cwd=ROOT).stdout
                        runs[backend].append(
                            json.loads(out.strip().splitlines()[-1]))
                scaling[images, iou_type] = report(args, images, iou_type,
                                                   runs)
    if len(args.images) > 1:
        report_scaling(scaling)


def report(args, images, iou_type, runs) -> dict:
    """Print one table; returns the medians per backend."""
    sys.stdout.write(
        f'\nLVIS {iou_type} evaluation, {images} images x {args.dets} '
        f'detections (labels: {args.labels}'
        f'{", real sizes" if args.real_sizes else ""}), {args.classes} '
        'categories, '
        f'{args.repeats} interleaved runs per backend (fresh process each)'
        '\n\n')
    sys.stdout.write(
        f'{"backend":16}{"total s":>9}{"process s":>11}{"evaluate s":>12}'
        f'{"evaluate runs s":>22}{"peak RSS MB":>13}{"added MB":>10}'
        f'{"gathered MB":>13}\n')
    median = {}
    for backend, results in runs.items():
        median[backend] = {
            k: statistics.median(r[k] for r in results)
            for k in ('seconds', 'process_seconds', 'evaluate_seconds')
        }
        median[backend].update(
            {k: max(r[k] for r in results)
             for k in ('peak_rss_mb', 'added_rss_mb', 'gathered_mb')})
        evals = ' '.join(f'{r["evaluate_seconds"]:.2f}' for r in results)
        m = median[backend]
        sys.stdout.write(
            f'{backend:16}{m["seconds"]:9.2f}{m["process_seconds"]:11.2f}'
            f'{m["evaluate_seconds"]:12.2f}{evals:>22}'
            f'{m["peak_rss_mb"]:13.0f}{m["added_rss_mb"]:10.0f}'
            f'{m["gathered_mb"]:13.1f}\n')
    for backend, results in runs.items():
        phases = ', '.join(f'{phase} {mb:.0f}' for phase, mb in
                           results[0]['peak_rss_by_phase_mb'].items())
        sys.stdout.write(f'{backend} peak RSS MB after each phase (first '
                         f'run): {phases}\n')
    if len(runs) < 2:
        return median
    ref, fast = median['LVISMetric'], median['FastLVISMetric']
    sys.stdout.write(
        '\nspeed-up lvis-api / fast: evaluate (load + match + accumulate) '
        f'{ref["evaluate_seconds"] / fast["evaluate_seconds"]:.2f}x, '
        f'end to end (process + evaluate) '
        f'{ref["seconds"] / fast["seconds"]:.2f}x; peak RSS fast / lvis-api '
        f'{fast["peak_rss_mb"] / ref["peak_rss_mb"]:.2f}, added '
        f'{fast["added_rss_mb"] / ref["added_rss_mb"]:.2f}\n\n')
    ref, fast = (runs[b][0]['metrics'] for b in BACKENDS)
    sys.stdout.write(f'{"metric":22}{"lvis-api":>10}{"fast":>10}\n')
    for key in ref:
        sys.stdout.write(f'{key:22}{ref[key]:10.3f}{fast[key]:10.3f}\n')
    diff = max(abs(ref[k] - fast[k]) for k in ref)
    sys.stdout.write(f'max |difference| over all metrics: {diff:.2e}\n')
    return median


def report_scaling(scaling: dict) -> None:
    """How time and memory grow with the number of images."""
    sizes = sorted({images for images, _ in scaling})
    sys.stdout.write(f'\nscaling from {sizes[0]} to {sizes[-1]} images '
                     f'(x{sizes[-1] / sizes[0]:.1f}): ratio of the larger '
                     'run to the smaller\n')
    sys.stdout.write(f'{"iou":6}{"backend":16}{"total s":>10}'
                     f'{"peak RSS":>10}{"added RSS":>11}{"gathered":>10}\n')
    for iou_type in IOU_TYPES:
        for backend in scaling.get((sizes[0], iou_type), ()):
            small, large = (scaling[s, iou_type][backend]
                            for s in (sizes[0], sizes[-1]))
            sys.stdout.write(
                f'{iou_type:6}{backend:16}'
                f'{large["seconds"] / small["seconds"]:10.2f}'
                f'{large["peak_rss_mb"] / small["peak_rss_mb"]:10.2f}'
                f'{large["added_rss_mb"] / small["added_rss_mb"]:11.2f}'
                f'{large["gathered_mb"] / small["gathered_mb"]:10.2f}\n')


if __name__ == '__main__':
    main()
