"""Camera models as CameraInfo states them: distortion_model honoured (plumb_bob and rational_polynomial by OpenCV's
pinhole model, equidistant by its fisheye model), checked against the models' formulas; intrinsics OpenCV would
reject or that make no camera (NaN/inf, non-positive focal lengths, a distortion vector of the wrong length, an
unknown model) are ValueError naming the problem, never cv2.error."""
import numpy as np
import pytest

from perception.core.geometry import CameraIntrinsics, project_points

K = np.array([[400.0, 0.0, 320.0], [0.0, 380.0, 240.0], [0.0, 0.0, 1.0]])
POINTS = np.array([[0.3, -0.2, 2.0], [-1.5, 0.8, 3.0], [0.0, 0.0, 5.0], [2.0, 1.0, 2.5], [0.1, 0.1, -1.0]])


def pinhole_reference(points, D, rational=False):
    """The ROS/OpenCV plumb_bob (k1 k2 p1 p2 k3) and rational_polynomial (+ k4 k5 k6) models, written out."""
    x, y = points[:, 0] / points[:, 2], points[:, 1] / points[:, 2]
    k1, k2, p1, p2, k3 = D[:5]
    k4, k5, k6 = D[5:8] if rational else (0.0, 0.0, 0.0)
    r2 = x * x + y * y
    radial = (1 + k1 * r2 + k2 * r2 ** 2 + k3 * r2 ** 3) / (1 + k4 * r2 + k5 * r2 ** 2 + k6 * r2 ** 3)
    xd = x * radial + 2 * p1 * x * y + p2 * (r2 + 2 * x * x)
    yd = y * radial + p1 * (r2 + 2 * y * y) + 2 * p2 * x * y
    return np.stack([K[0, 0] * xd + K[0, 2], K[1, 1] * yd + K[1, 2]], 1)


def equidistant_reference(points, D):
    """The equidistant (Kannala-Brandt) fisheye model: theta_d = theta (1 + k1 theta^2 + ... + k4 theta^8)."""
    x, y = points[:, 0] / points[:, 2], points[:, 1] / points[:, 2]
    r = np.hypot(x, y)
    theta = np.arctan(r)
    theta_d = theta * (1 + D[0] * theta ** 2 + D[1] * theta ** 4 + D[2] * theta ** 6 + D[3] * theta ** 8)
    scale = np.where(r > 0, theta_d / np.maximum(r, 1e-12), 1.0)
    return np.stack([K[0, 0] * x * scale + K[0, 2], K[1, 1] * y * scale + K[1, 2]], 1)


@pytest.mark.parametrize('model, D, reference', [
    ('plumb_bob', [-0.2, 0.05, 0.001, -0.002, 0.01], lambda p, d: pinhole_reference(p, d)),
    ('rational_polynomial', [-0.2, 0.05, 0.001, -0.002, 0.01, 0.1, 0.01, 0.002],
     lambda p, d: pinhole_reference(p, d, rational=True)),
    ('equidistant', [0.05, -0.01, 0.002, -0.0005], equidistant_reference),
])
def test_each_distortion_model_projects_by_its_own_formula(model, D, reference):
    camera = CameraIntrinsics(640, 480, K, np.array(D), model)
    uv, depth, visible = project_points(POINTS, camera)
    in_front = POINTS[:, 2] > 0.1
    np.testing.assert_allclose(uv[in_front], reference(POINTS[in_front], np.array(D)), atol=1e-6)
    assert np.isnan(uv[~in_front]).all() and not visible[~in_front].any()
    np.testing.assert_array_equal(depth, POINTS[:, 2])


def test_a_fisheye_camera_is_not_projected_as_plumb_bob():
    D = np.array([0.05, -0.01, 0.002, -0.0005])
    fisheye = project_points(POINTS, CameraIntrinsics(640, 480, K, D, 'equidistant'))[0]
    assert np.nanmax(np.abs(fisheye - equidistant_reference(POINTS, D))[:4]) < 1e-6
    wrong = pinhole_reference(POINTS[:4], np.r_[D, 0.0])  # the same numbers read as plumb_bob
    assert np.abs(fisheye[:4] - wrong).max() > 20


@pytest.mark.parametrize('model', ['plumb_bob', 'rational_polynomial', 'equidistant'])
def test_no_point_in_front_of_a_distorted_camera(model):
    D = {'plumb_bob': np.full(5, 0.01), 'rational_polynomial': np.full(8, 0.01), 'equidistant': np.full(4, 0.01)}
    behind = POINTS.copy()
    behind[:, 2] = -np.abs(POINTS[:, 2])
    uv, _, visible = project_points(behind, CameraIntrinsics(640, 480, K, D[model], model))
    assert uv.shape == (len(POINTS), 2) and np.isnan(uv).all() and not visible.any()


@pytest.mark.parametrize('model, D', [('plumb_bob', []), ('plumb_bob', [0.0] * 5), ('equidistant', []),
                                      ('plumb_bob', [0.1, 0.01, 0.0, 0.0]), ('rational_polynomial', [])])
def test_accepted_distortion_vectors(model, D):
    camera = CameraIntrinsics(640, 480, K, np.array(D, float), model)
    assert project_points(POINTS, camera)[2].sum() >= 3


@pytest.mark.parametrize('model, D, message', [
    ('equidistant', [0.1, 0.01, 0.0], r'equidistant distortion needs 4 coefficients, got 3'),
    ('plumb_bob', [0.1, 0.01, 0.0], r'plumb_bob distortion needs 4 or 5 coefficients, got 3'),
    ('rational_polynomial', [0.1] * 5, r'rational_polynomial distortion needs 8 coefficients, got 5'),
    ('plumb_bob', [0.1, np.nan, 0, 0, 0], 'distortion coefficients must be finite'),
    ('fisheye', [0.1] * 4, r"distortion_model 'fisheye' is not supported"),
    ('', [0.1] * 5, r"distortion_model '' is not supported"),
])
def test_distortion_opencv_would_reject_is_value_error(model, D, message):
    with pytest.raises(ValueError, match=message):
        CameraIntrinsics(640, 480, K, np.array(D, float), model)


@pytest.mark.parametrize('K_values, message', [
    ([[np.nan, 0, 320], [0, 380, 240], [0, 0, 1]], 'K must be finite'),
    ([[400, 0, np.inf], [0, 380, 240], [0, 0, 1]], 'K must be finite'),
    ([[0, 0, 320], [0, 380, 240], [0, 0, 1]], 'focal lengths must be positive'),
    ([[400, 0, 320], [0, -380, 240], [0, 0, 1]], 'focal lengths must be positive'),
    ([[400, 0, 320], [0, 380, 240]], r'K must be 3x3'),
])
def test_intrinsics_that_make_no_camera_are_value_error(K_values, message):
    with pytest.raises(ValueError, match=message):
        CameraIntrinsics(640, 480, np.array(K_values, float))


@pytest.mark.parametrize('width, height', [(0, 480), (640, -1), (640.5, 480)])
def test_image_size_must_be_positive_integers(width, height):
    with pytest.raises(ValueError, match='image size'):
        CameraIntrinsics(width, height, K)
