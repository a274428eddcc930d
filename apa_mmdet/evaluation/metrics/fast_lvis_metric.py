# Copyright (c) apa_mmdet contributors.
"""LVIS evaluation on faster-coco-eval's C++ core, a drop-in for mmdet's
``LVISMetric``."""
import contextlib
import gc
import itertools
from collections import OrderedDict
from typing import Dict, List, NamedTuple, Optional, Sequence, Tuple, Union

import numpy as np
from mmdet.evaluation.metrics import LVISMetric
from mmdet.registry import METRICS
from mmengine.fileio import get_local_path
from mmengine.logging import MMLogger

from ..functional import category_rounds, encode_masks, grouped
from .lvis_summary import category_ap, summarize

# lvis-api's result names (in its order) -> faster-coco-eval's labels
KEYS = OrderedDict(
    AP='AP_all', AP50='AP_50', AP75='AP_75', APs='AP_small',
    APm='AP_medium', APl='AP_large', APr='APr', APc='APc', APf='APf',
    **{'AR@300': 'AR_all', 'ARs@300': 'AR_small', 'ARm@300': 'AR_medium',
       'ARl@300': 'AR_large'})
DEFAULT_ITEMS = ('AP', 'AP50', 'AP75', 'APs', 'APm', 'APl', 'APr', 'APc',
                 'APf')
MAX_DETS = 300  # LVIS's limit per image, highest scores first
# categories matched and accumulated at a time, each round on the images
# where its categories are evaluated: the matching state grows with the
# (image, category) pairs of a round (faster-coco-eval keeps a dict entry
# for each), and the detection dicts with its categories
CATEGORIES_PER_ROUND = 128
PAIRS_PER_ROUND = 2**18


class PackedRLEs:
    """One image's mask RLEs as two arrays: every ``counts`` string joined
    in one bytes buffer and its end offsets. Pickles (for the gather on
    rank 0) as two buffers instead of a dict per mask.

    Args:
        rles (list[dict]): COCO RLEs of one image, all of one size.
    """

    def __init__(self, rles: Sequence[dict]) -> None:
        self.size = tuple(rles[0]['size']) if len(rles) else (0, 0)
        counts = [rle['counts'] for rle in rles]
        self.ends = np.cumsum([len(c) for c in counts], dtype=np.int64)
        self.buffer = b''.join(counts)

    def __len__(self) -> int:
        return len(self.ends)

    def __getitem__(self, index: int) -> dict:
        start = int(self.ends[index - 1]) if index else 0
        return dict(size=list(self.size),
                    counts=self.buffer[start:int(self.ends[index])])


class Selection(NamedTuple):
    """The detections an evaluation scores, one entry each: where it is
    (``result``: index into the results, ``row`` in that image's arrays),
    its ``category`` id, ``score`` and ``box`` (x1, y1, x2, y2; (N, 4))."""
    result: np.ndarray
    row: np.ndarray
    category: np.ndarray
    score: np.ndarray
    box: np.ndarray


@contextlib.contextmanager
def cyclic_gc_paused():
    """Pause Python's cyclic garbage collector inside the block.

    Building ~10⁵ detection dicts (and faster-coco-eval's own objects)
    otherwise triggers full collections that walk every live object, about
    half of the evaluation time; nothing made here is cyclic garbage.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


@METRICS.register_module()
class FastLVISMetric(LVISMetric):
    """mmdet's ``LVISMetric`` with bbox and segm scored by faster-coco-eval.

    The same arguments, defaults and results as ``LVISMetric`` (its
    subclass): ``lvis/{bbox,segm}_{AP,AP50,AP75,APs,APm,APl,APr,APc,APf}``
    as lvis-api computes them on the same detections (federated rules:
    ``neg_category_ids``, ``not_exhaustive_category_ids``, at most 300
    detections per image), ``classwise`` and ``metric_items`` included,
    computed by a C++ core (result files only where ``outfile_prefix``
    asks for them, as mmdet writes them). What lvis-api's own machinery
    does differently runs there unchanged: ``proposal`` and
    ``proposal_fast``, ``format_only``, and ``ann_file=None`` (ground truth
    from the data samples). Per image it keeps compact arrays (boxes,
    scores, labels; masks as :class:`PackedRLEs`), which is also what rank
    0 gathers from the others. In a child of an LVIS config::

        val_evaluator = dict(type='FastLVISMetric')
        test_evaluator = val_evaluator

    After each bbox or segm evaluation, ``unrounded[iou_type]`` holds what
    the results round: ``stats`` (the summary, by ``KEYS``' names) and
    ``category_ap`` (category id -> AP, NaN without ground truth) with
    ``category_frequency`` (category id -> 'r', 'c' or 'f'), for analyses
    that need more than three decimals.

    Args: as ``mmdet.evaluation.LVISMetric``.
    """

    def __init__(self,
                 ann_file: Optional[str] = None,
                 metric: Union[str, List[str]] = 'bbox',
                 classwise: bool = False,
                 proposal_nums: Sequence[int] = (100, 300, 1000),
                 iou_thrs: Optional[Union[float, Sequence[float]]] = None,
                 metric_items: Optional[Sequence[str]] = None,
                 format_only: bool = False,
                 outfile_prefix: Optional[str] = None,
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None,
                 file_client_args: dict = None,
                 backend_args: dict = None) -> None:
        # LVISMetric checks every argument; its lvis-api ground truth is
        # loaded here only when a metric needs it
        super().__init__(
            ann_file=None, metric=metric, classwise=classwise,
            proposal_nums=proposal_nums, iou_thrs=iou_thrs,
            metric_items=metric_items, format_only=format_only,
            outfile_prefix=outfile_prefix, collect_device=collect_device,
            prefix=prefix, file_client_args=file_client_args,
            backend_args=backend_args)
        self.ann_file = ann_file
        self._gt = None
        self._evaluated = None
        self.unrounded: Dict[str, dict] = {}

    def _lvis_api_handles_all(self) -> bool:
        """Whether lvis-api's path computes everything (no fast part)."""
        return self.format_only or self.ann_file is None

    def process(self, data_batch: dict, data_samples: Sequence[dict]) -> None:
        """Keep each image's predictions as arrays (masks as
        :class:`PackedRLEs`), with the ground truth where lvis-api's path
        needs it (``format_only``, no ``ann_file``)."""
        whole = self._lvis_api_handles_all()
        for sample in data_samples:
            pred = sample['pred_instances']
            result = dict(
                img_id=sample['img_id'],
                bboxes=pred['bboxes'].cpu().numpy(),
                scores=pred['scores'].cpu().numpy(),
                labels=pred['labels'].cpu().numpy().astype(np.int64))
            # masks are encoded where they are scored or written
            if 'masks' in pred and ('segm' in self.metrics
                                    or self.outfile_prefix is not None):
                result['masks'] = PackedRLEs(encode_masks(
                    pred['masks'].detach().cpu().numpy()))
            if 'mask_scores' in pred:
                result['mask_scores'] = pred['mask_scores'].cpu().numpy()
            if whole:
                result['gt'] = dict(
                    width=sample['ori_shape'][1],
                    height=sample['ori_shape'][0], img_id=sample['img_id'])
                if self.ann_file is None:
                    result['gt']['anns'] = sample['instances']
            self.results.append(result)

    def _ground_truth(self):
        """faster-coco-eval's view of ``ann_file`` (loaded once)."""
        if self._gt is None:
            from faster_coco_eval import COCO
            with get_local_path(self.ann_file,
                                backend_args=self.backend_args) as path:
                self._gt = COCO(path, print_function=lambda *a: None)
        return self._gt

    def _where_evaluated(
            self) -> Tuple[Dict[int, np.ndarray], Dict[int, np.ndarray]]:
        """Where LVIS evaluates a category: per image, the category ids of
        its ground truth and its ``neg_category_ids`` (every image of the
        file, empty where none); per category, the ids of those images
        (ascending; categories evaluated nowhere are left out)."""
        if self._evaluated is None:
            gt = self._ground_truth()
            pairs = {(image_id, category_id)
                     for image_id, image in gt.imgs.items()
                     for category_id in image.get('neg_category_ids', ())}
            pairs.update((ann['image_id'], ann['category_id'])
                         for ann in gt.dataset['annotations'])
            pairs = np.array(sorted(pairs), dtype=np.int64).reshape(-1, 2)
            by_image = dict.fromkeys(gt.imgs, np.zeros(0, dtype=np.int64))
            by_image.update(grouped(pairs[:, 0], pairs[:, 1]))
            by_category = pairs[np.lexsort((pairs[:, 0], pairs[:, 1]))]
            self._evaluated = by_image, grouped(by_category[:, 1],
                                                by_category[:, 0])
        return self._evaluated

    def _selected(self, results: List[dict], iou_type: str,
                  cat_ids: np.ndarray, evaluated_only: bool) -> 'Selection':
        """The detections that count, in image order and, per image, score
        order: per image the 300 highest scores, as lvis-api cuts them
        (stable order among equal scores); with ``evaluated_only`` then
        only those of categories LVIS evaluates on their image (lvis-api
        and faster-coco-eval ignore the others)."""
        evaluated = self._where_evaluated()[0] if evaluated_only else {}
        columns = dict(result=[], row=[], category=[], score=[], box=[])
        for index, res in enumerate(results):
            image_id = res['img_id']
            scores = res['mask_scores'] if (
                iou_type == 'segm' and 'mask_scores' in res) else res['scores']
            keep = np.argsort(-scores, kind='stable')[:MAX_DETS]
            categories = cat_ids[res['labels'][keep]]
            if image_id in evaluated:
                inside = np.isin(categories, evaluated[image_id])
                keep, categories = keep[inside], categories[inside]
            columns['result'].append(np.full(len(keep), index))
            columns['row'].append(keep)
            columns['category'].append(categories)
            columns['score'].append(scores[keep])
            columns['box'].append(res['bboxes'][keep].reshape(-1, 4))
        return Selection(**{
            name: np.concatenate(parts) if parts else np.zeros(
                (0, 4) if name == 'box' else 0)
            for name, parts in columns.items()})

    @staticmethod
    def _detections(results: List[dict], selection: 'Selection',
                    iou_type: str, indices: np.ndarray) -> List[dict]:
        """COCO-style detection dicts of ``selection``'s ``indices``, as
        mmdet writes them: segm ones carry the box too (area ranges use
        the box area, as with lvis-api) and ``mask_scores`` where the
        detector gives them."""
        boxes = selection.box[indices].astype(np.float64)
        boxes[:, 2:] -= boxes[:, :2]
        image_ids = [res['img_id'] for res in results]
        rows = zip(selection.result[indices].tolist(),
                   selection.category[indices].tolist(),
                   selection.score[indices].astype(np.float64).tolist(),
                   boxes.tolist())
        if iou_type == 'bbox':
            return [dict(image_id=image_ids[r], category_id=c, score=s,
                         bbox=b) for r, c, s, b in rows]
        masks = [res['masks'] for res in results]
        return [dict(image_id=image_ids[r], category_id=c, score=s, bbox=b,
                     segmentation=masks[r][i])
                for (r, c, s, b), i in zip(rows,
                                           selection.row[indices].tolist())]

    def _lvis_api_format(self, results: List[dict]) -> List[tuple]:
        """``results`` as ``LVISMetric.process`` keeps them."""
        formatted = []
        for res in results:
            pred = {k: v for k, v in res.items() if k != 'gt'}
            if 'masks' in pred:
                pred['masks'] = [pred['masks'][i]
                                 for i in range(len(pred['masks']))]
            gt = res.get('gt', dict(img_id=res['img_id']))
            formatted.append((gt, pred))
        return formatted

    def _lvis_api_metrics(self, results: List[dict],
                          metrics: List[str]) -> Dict[str, float]:
        """``LVISMetric.compute_metrics`` for ``metrics`` (lvis-api)."""
        if self._lvis_api is None and self.ann_file is not None:
            from lvis import LVIS
            with get_local_path(self.ann_file,
                                backend_args=self.backend_args) as path:
                self._lvis_api = LVIS(path)
        all_metrics, self.metrics = self.metrics, metrics
        try:
            return super().compute_metrics(self._lvis_api_format(results))
        finally:
            self.metrics = all_metrics

    def _accumulate(self, gt, results: List[dict], selection: Selection,
                    iou_type: str, cat_ids: np.ndarray,
                    evaluated_only: bool):
        """Precision (T, R, K, A) and recall (T, K, A) of every category
        of ``cat_ids`` (ascending, as the evaluator orders them), and the
        evaluation parameters. Categories are independent: they are
        matched and accumulated in rounds (:func:`category_rounds`), each
        on the images where its categories are evaluated (with
        ``evaluated_only``, where ``selection`` has its detections too) and
        from the detection dicts of its own categories only, so that no
        more than a round's matching state, dicts and mask RLE copies are
        alive."""
        from faster_coco_eval import COCOeval_faster
        images_of = self._where_evaluated()[1] if evaluated_only else None
        precision, recall = [], []
        for round_ids, image_ids in category_rounds(
                cat_ids, images_of, CATEGORIES_PER_ROUND, PAIRS_PER_ROUND):
            indices = np.flatnonzero(np.isin(selection.category, round_ids))
            detections = gt.loadRes(self._detections(
                results, selection, iou_type, indices))
            evaluator = COCOeval_faster(gt, detections, iou_type,
                                        lvis_style=True,
                                        print_function=lambda *a: None)
            evaluator.params.maxDets = [MAX_DETS]
            evaluator.params.catIds = round_ids.tolist()
            if image_ids is not None:
                # categories evaluated nowhere have no ground truth and no
                # detections: any one image gives their empty result (an
                # empty list would mean every image)
                evaluator.params.imgIds = (image_ids.tolist()
                                           or [next(iter(gt.imgs))])
            evaluator.evaluate()
            evaluator.accumulate()
            precision.append(evaluator.eval['precision'][..., -1])
            recall.append(evaluator.eval['recall'][..., -1])
            params = evaluator.params
            del evaluator, detections
        return (np.concatenate(precision, axis=2),
                np.concatenate(recall, axis=1), params)

    def _classwise_table(self, precisions: np.ndarray, gt,
                         cat_ids: np.ndarray, eval_results: dict) -> None:
        """Per-category AP (all areas, 300 detections) of precision
        (T, R, K, A) into ``eval_results`` as ``{name}_precision``, logged
        as a table."""
        rows = []
        for cat_id, ap in zip(cat_ids, category_ap(precisions)):
            name = gt.cats[int(cat_id)]['name']
            rows.append((f'{name}', f'{float(ap):0.3f}'))
            eval_results[f'{name}_precision'] = round(ap, 3)
        from terminaltables import AsciiTable
        columns = min(6, len(rows) * 2)
        flat = list(itertools.chain(*rows))
        table = [['category', 'AP'] * (columns // 2)]
        table += list(itertools.zip_longest(
            *[flat[i::columns] for i in range(columns)]))
        MMLogger.get_current_instance().info('\n' + AsciiTable(table).table)

    def compute_metrics(self, results: List[dict]) -> Dict[str, float]:
        """bbox and segm from faster-coco-eval, the rest from lvis-api, in
        the order of ``metric``; as ``LVISMetric``, an empty set of
        detections ends the evaluation with what was computed so far."""
        if self._lvis_api_handles_all():
            return self._lvis_api_metrics(results, self.metrics)
        logger = MMLogger.get_current_instance()
        gt = self._ground_truth()
        # mmdet's LVIS datasets label categories in file order
        cat_ids = np.array([c['id'] for c in gt.dataset['categories']])
        if self.outfile_prefix is not None:
            self.cat_ids = cat_ids.tolist()
            self.results2json([pred for _, pred in self._lvis_api_format(
                results)], self.outfile_prefix)
        items = self.metric_items or DEFAULT_ITEMS
        eval_results = OrderedDict()
        for metric in self.metrics:
            if metric not in ('bbox', 'segm'):
                eval_results.update(self._lvis_api_metrics(results, [metric]))
                continue
            logger.info(f'Evaluating {metric}...')
            with cyclic_gc_paused():
                # all of them when none is evaluated: the metrics are then
                # lvis-api's for detections that match nothing
                evaluated_only = True
                selection = self._selected(results, metric, cat_ids, True)
                if not len(selection.result):
                    evaluated_only = False
                    selection = self._selected(results, metric, cat_ids,
                                               False)
                if not len(selection.result):
                    logger.info('The testing results of the whole dataset '
                                'is empty.')
                    break
                eval_ids = np.sort(cat_ids)
                precision, recall, params = self._accumulate(
                    gt, results, selection, metric, eval_ids,
                    evaluated_only)
                del selection
            frequencies = np.array(
                [gt.cats[int(c)]['frequency'] for c in eval_ids])
            stats = summarize(precision, recall, params.iouThrs,
                              params.areaRngLbl, frequencies)
            logger.info(f'{metric}: ' + ', '.join(
                f'{key} {stats[label]:.3f}' for key, label in KEYS.items()))
            self.unrounded[metric] = dict(
                stats={key: stats[label] for key, label in KEYS.items()},
                category_ap=dict(zip(eval_ids.tolist(),
                                     category_ap(precision).tolist())),
                category_frequency=dict(zip(eval_ids.tolist(),
                                            frequencies.tolist())))
            if self.classwise:
                self._classwise_table(precision, gt, eval_ids, eval_results)
            for key, label in KEYS.items():
                if key in items:
                    # rounded as mmdet's LVISMetric does
                    eval_results[f'{metric}_{key}'] = float(
                        f'{stats[label]:.3f}')
        return eval_results
