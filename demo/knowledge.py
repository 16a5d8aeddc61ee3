"""A small medical knowledge base the synthetic item bank is written from.

Organ systems × disciplines make the topic hierarchy (with blueprint codes); each fact yields
several single-best-answer items (mechanism, adverse effect, indication; diagnosis, treatment,
mechanism of disease) whose distractors come from sibling facts of the same system.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Drug:
    name: str
    drug_class: str
    mechanism: str
    adverse_effect: str
    indication: str


@dataclass(frozen=True)
class Disease:
    name: str
    findings: str
    mechanism: str
    treatment: str


@dataclass(frozen=True)
class System:
    code: str
    name: str
    drugs: tuple[Drug, ...]
    diseases: tuple[Disease, ...]


SYSTEMS: tuple[System, ...] = (
    System(
        "CVS",
        "Cardiovascular",
        (
            Drug(
                "lisinopril",
                "ACE inhibitor",
                "Inhibits conversion of angiotensin I to angiotensin II",
                "Dry cough from bradykinin accumulation",
                "hypertension with diabetic nephropathy",
            ),
            Drug(
                "metoprolol",
                "β1-selective blocker",
                "Blocks β1-adrenergic receptors in the heart",
                "Bradycardia and fatigue",
                "stable angina after myocardial infarction",
            ),
            Drug(
                "amlodipine",
                "dihydropyridine calcium channel blocker",
                "Blocks L-type calcium channels in vascular smooth muscle",
                "Peripheral edema",
                "isolated systolic hypertension",
            ),
            Drug(
                "digoxin",
                "cardiac glycoside",
                "Inhibits the Na⁺/K⁺-ATPase of cardiac myocytes",
                "Yellow-tinted vision and arrhythmias",
                "heart failure with atrial fibrillation",
            ),
            Drug(
                "atorvastatin",
                "statin",
                "Inhibits HMG-CoA reductase",
                "Myopathy with elevated creatine kinase",
                "hypercholesterolemia",
            ),
            Drug(
                "amiodarone",
                "class III antiarrhythmic",
                "Blocks potassium channels, prolonging repolarization",
                "Pulmonary fibrosis",
                "recurrent ventricular tachycardia",
            ),
            Drug(
                "spironolactone",
                "potassium-sparing diuretic",
                "Antagonizes the aldosterone receptor",
                "Gynecomastia",
                "heart failure with reduced ejection fraction",
            ),
            Drug(
                "hydralazine",
                "arteriolar vasodilator",
                "Increases cGMP in arteriolar smooth muscle",
                "Drug-induced lupus",
                "severe hypertension in pregnancy",
            ),
        ),
        (
            Disease(
                "aortic stenosis",
                "a crescendo-decrescendo systolic murmur radiating to the carotids and exertional syncope",
                "Calcific degeneration of a (often bicuspid) aortic valve",
                "Aortic valve replacement",
            ),
            Disease(
                "hypertrophic cardiomyopathy",
                "a systolic murmur that increases with Valsalva and a family history of sudden death",
                "Sarcomere protein (β-myosin heavy chain) mutation",
                "β-blocker therapy and avoidance of dehydration",
            ),
            Disease(
                "acute pericarditis",
                "pleuritic chest pain relieved by leaning forward and diffuse ST elevation",
                "Inflammation of the pericardial sac, commonly viral",
                "NSAIDs with colchicine",
            ),
            Disease(
                "infective endocarditis",
                "fever, a new murmur and splinter hemorrhages after dental work",
                "Bacterial colonization of damaged valve endothelium",
                "Prolonged intravenous antibiotics",
            ),
            Disease(
                "cardiac tamponade",
                "hypotension, jugular venous distension and muffled heart sounds",
                "Pericardial fluid restricting diastolic filling",
                "Pericardiocentesis",
            ),
        ),
    ),
    System(
        "RESP",
        "Respiratory",
        (
            Drug(
                "albuterol",
                "short-acting β2 agonist",
                "Stimulates β2 receptors, relaxing bronchial smooth muscle",
                "Tremor and tachycardia",
                "acute asthma exacerbation",
            ),
            Drug(
                "tiotropium",
                "long-acting muscarinic antagonist",
                "Blocks M3 receptors in the airways",
                "Dry mouth",
                "maintenance therapy of COPD",
            ),
            Drug(
                "montelukast",
                "leukotriene receptor antagonist",
                "Blocks the CysLT1 leukotriene receptor",
                "Neuropsychiatric events",
                "aspirin-exacerbated respiratory disease",
            ),
            Drug(
                "isoniazid",
                "antimycobacterial",
                "Inhibits mycolic acid synthesis",
                "Peripheral neuropathy from pyridoxine deficiency",
                "latent tuberculosis",
            ),
            Drug(
                "fluticasone",
                "inhaled corticosteroid",
                "Inhibits inflammatory gene transcription",
                "Oropharyngeal candidiasis",
                "persistent asthma",
            ),
            Drug(
                "theophylline",
                "methylxanthine",
                "Inhibits phosphodiesterase, raising cAMP",
                "Seizures at toxic levels",
                "refractory COPD",
            ),
        ),
        (
            Disease(
                "sarcoidosis",
                "bilateral hilar lymphadenopathy, erythema nodosum and elevated ACE",
                "Noncaseating granulomas driven by CD4⁺ Th1 cells",
                "Systemic corticosteroids",
            ),
            Disease(
                "pulmonary embolism",
                "sudden dyspnea, pleuritic pain and tachycardia after long travel",
                "Thrombus from deep leg veins occluding pulmonary arteries",
                "Anticoagulation with heparin",
            ),
            Disease(
                "tension pneumothorax",
                "tracheal deviation away from a hyperresonant hemithorax and hypotension",
                "Air trapped in the pleural space under pressure",
                "Immediate needle decompression",
            ),
            Disease(
                "cystic fibrosis",
                "recurrent pneumonias, greasy stools and an elevated sweat chloride",
                "Defective CFTR chloride channel",
                "Airway clearance with CFTR modulators",
            ),
            Disease(
                "asbestosis",
                "lower-lobe fibrosis and calcified pleural plaques in a shipyard worker",
                "Asbestos fibers inducing fibrosis",
                "Supportive care and smoking cessation",
            ),
        ),
    ),
    System(
        "RENAL",
        "Renal",
        (
            Drug(
                "furosemide",
                "loop diuretic",
                "Inhibits the Na⁺-K⁺-2Cl⁻ cotransporter of the thick ascending limb",
                "Ototoxicity",
                "pulmonary edema",
            ),
            Drug(
                "hydrochlorothiazide",
                "thiazide diuretic",
                "Inhibits the Na⁺-Cl⁻ cotransporter of the distal tubule",
                "Hypercalcemia",
                "calcium nephrolithiasis with hypercalciuria",
            ),
            Drug(
                "acetazolamide",
                "carbonic anhydrase inhibitor",
                "Inhibits proximal tubule carbonic anhydrase",
                "Hyperchloremic metabolic acidosis",
                "acute mountain sickness",
            ),
            Drug(
                "mannitol",
                "osmotic diuretic",
                "Increases tubular fluid osmolarity",
                "Pulmonary edema in heart failure",
                "raised intracranial pressure",
            ),
            Drug(
                "desmopressin",
                "ADH analog",
                "Activates V2 receptors, inserting aquaporins",
                "Hyponatremia",
                "central diabetes insipidus",
            ),
        ),
        (
            Disease(
                "minimal change disease",
                "periorbital edema and massive proteinuria in a young child",
                "Podocyte foot process effacement",
                "Corticosteroids",
            ),
            Disease(
                "post-streptococcal glomerulonephritis",
                "cola-colored urine two weeks after pharyngitis",
                "Immune complex deposition with low C3",
                "Supportive care",
            ),
            Disease(
                "renal cell carcinoma",
                "flank pain, hematuria and a palpable mass in a smoker",
                "Loss of VHL tumor suppressor function",
                "Partial or radical nephrectomy",
            ),
            Disease(
                "autosomal dominant polycystic kidney disease",
                "bilateral enlarged kidneys and hypertension with a berry aneurysm",
                "PKD1 mutation",
                "Blood pressure control and tolvaptan",
            ),
            Disease(
                "acute tubular necrosis",
                "muddy brown granular casts after prolonged hypotension",
                "Ischemic injury to tubular epithelial cells",
                "Supportive care with fluid management",
            ),
        ),
    ),
    System(
        "GI",
        "Gastrointestinal",
        (
            Drug(
                "omeprazole",
                "proton pump inhibitor",
                "Irreversibly inhibits the parietal cell H⁺/K⁺-ATPase",
                "Clostridioides difficile infection",
                "erosive esophagitis",
            ),
            Drug(
                "ondansetron",
                "5-HT3 antagonist",
                "Blocks 5-HT3 receptors in the chemoreceptor trigger zone",
                "QT prolongation",
                "chemotherapy-induced nausea",
            ),
            Drug(
                "metoclopramide",
                "D2 antagonist",
                "Blocks dopamine D2 receptors, promoting gastric emptying",
                "Tardive dyskinesia",
                "diabetic gastroparesis",
            ),
            Drug(
                "infliximab",
                "anti-TNF-α monoclonal antibody",
                "Neutralizes tumor necrosis factor-α",
                "Reactivation of latent tuberculosis",
                "fistulizing Crohn disease",
            ),
            Drug(
                "misoprostol",
                "PGE1 analog",
                "Increases protective gastric mucus secretion",
                "Diarrhea",
                "prevention of NSAID-induced ulcers",
            ),
            Drug(
                "loperamide",
                "peripheral opioid agonist",
                "Activates μ-opioid receptors in the gut wall",
                "Constipation",
                "acute non-infectious diarrhea",
            ),
        ),
        (
            Disease(
                "celiac disease",
                "diarrhea, weight loss and an itchy vesicular rash on the elbows",
                "Gluten-triggered T-cell response against tissue transglutaminase",
                "Lifelong gluten-free diet",
            ),
            Disease(
                "achalasia",
                "dysphagia to solids and liquids and a bird's-beak esophagus",
                "Loss of inhibitory neurons of the myenteric plexus",
                "Pneumatic dilation or myotomy",
            ),
            Disease(
                "acute pancreatitis",
                "epigastric pain radiating to the back with elevated lipase after binge drinking",
                "Autodigestion by prematurely activated pancreatic enzymes",
                "Fluids, analgesia and bowel rest",
            ),
            Disease(
                "Hirschsprung disease",
                "failure to pass meconium in the first 48 hours of life",
                "Failure of neural crest migration to the distal colon",
                "Resection of the aganglionic segment",
            ),
            Disease(
                "primary sclerosing cholangitis",
                "cholestasis and beaded bile ducts in a man with ulcerative colitis",
                "Concentric onion-skin fibrosis of bile ducts",
                "Liver transplantation",
            ),
        ),
    ),
    System(
        "ENDO",
        "Endocrine",
        (
            Drug(
                "metformin",
                "biguanide",
                "Decreases hepatic gluconeogenesis",
                "Lactic acidosis",
                "type 2 diabetes with obesity",
            ),
            Drug(
                "glipizide",
                "sulfonylurea",
                "Closes K⁺-ATP channels on β cells, releasing insulin",
                "Hypoglycemia",
                "type 2 diabetes not controlled by metformin",
            ),
            Drug(
                "levothyroxine",
                "thyroid hormone",
                "Replaces T4, converted to T3 in tissues",
                "Atrial fibrillation when overdosed",
                "Hashimoto thyroiditis",
            ),
            Drug(
                "methimazole",
                "thionamide",
                "Inhibits thyroid peroxidase",
                "Agranulocytosis",
                "Graves disease outside the first trimester",
            ),
            Drug(
                "empagliflozin",
                "SGLT2 inhibitor",
                "Blocks proximal tubule glucose reabsorption",
                "Genital mycotic infections",
                "type 2 diabetes with heart failure",
            ),
            Drug(
                "pioglitazone",
                "thiazolidinedione",
                "Activates PPAR-γ, increasing insulin sensitivity",
                "Fluid retention and weight gain",
                "insulin-resistant type 2 diabetes",
            ),
        ),
        (
            Disease(
                "Cushing disease",
                "central obesity, purple striae and suppression with high-dose dexamethasone",
                "ACTH-secreting pituitary adenoma",
                "Transsphenoidal resection",
            ),
            Disease(
                "primary hyperaldosteronism",
                "hypertension, hypokalemia and a low renin level",
                "Aldosterone-producing adrenal adenoma",
                "Spironolactone or adrenalectomy",
            ),
            Disease(
                "pheochromocytoma",
                "episodic headache, sweating and palpitations with hypertension",
                "Catecholamine-secreting chromaffin cell tumor",
                "α-blockade followed by surgery",
            ),
            Disease(
                "diabetic ketoacidosis",
                "Kussmaul respirations, fruity breath and an anion-gap acidosis",
                "Insulin deficiency driving ketogenesis",
                "Intravenous insulin with fluids and potassium",
            ),
            Disease(
                "primary adrenal insufficiency",
                "hyperpigmentation, hypotension and hyperkalemia",
                "Autoimmune destruction of the adrenal cortex",
                "Glucocorticoid and mineralocorticoid replacement",
            ),
        ),
    ),
    System(
        "NEURO",
        "Neurology",
        (
            Drug(
                "levodopa–carbidopa",
                "dopamine precursor",
                "Replenishes striatal dopamine; carbidopa blocks peripheral decarboxylation",
                "On-off dyskinesias",
                "Parkinson disease",
            ),
            Drug(
                "phenytoin",
                "antiepileptic",
                "Blocks voltage-gated sodium channels",
                "Gingival hyperplasia",
                "generalized tonic-clonic seizures",
            ),
            Drug(
                "ethosuximide",
                "antiepileptic",
                "Blocks thalamic T-type calcium channels",
                "Gastrointestinal upset",
                "absence seizures",
            ),
            Drug(
                "sumatriptan",
                "triptan",
                "Agonizes 5-HT1B/1D receptors",
                "Coronary vasospasm",
                "acute migraine",
            ),
            Drug(
                "donepezil",
                "acetylcholinesterase inhibitor",
                "Increases synaptic acetylcholine",
                "Bradycardia",
                "Alzheimer dementia",
            ),
            Drug(
                "valproate",
                "antiepileptic",
                "Increases GABA and blocks sodium channels",
                "Neural tube defects in pregnancy",
                "myoclonic seizures",
            ),
        ),
        (
            Disease(
                "multiple sclerosis",
                "optic neuritis and internuclear ophthalmoplegia in a young woman",
                "Autoimmune demyelination of CNS white matter",
                "High-dose corticosteroids for relapses",
            ),
            Disease(
                "myasthenia gravis",
                "ptosis and diplopia that worsen through the day",
                "Antibodies against the acetylcholine receptor",
                "Pyridostigmine",
            ),
            Disease(
                "Guillain-Barré syndrome",
                "ascending weakness and areflexia after Campylobacter enteritis",
                "Molecular mimicry causing peripheral demyelination",
                "IVIG or plasmapheresis",
            ),
            Disease(
                "subarachnoid hemorrhage",
                "a thunderclap headache and neck stiffness",
                "Rupture of a saccular (berry) aneurysm",
                "Aneurysm coiling or clipping with nimodipine",
            ),
            Disease(
                "normal pressure hydrocephalus",
                "urinary incontinence, gait apraxia and dementia",
                "Impaired CSF resorption with ventricular enlargement",
                "Ventriculoperitoneal shunt",
            ),
        ),
    ),
    System(
        "HEME",
        "Hematology",
        (
            Drug(
                "warfarin",
                "vitamin K antagonist",
                "Inhibits vitamin K epoxide reductase",
                "Skin necrosis with protein C deficiency",
                "long-term anticoagulation with a mechanical valve",
            ),
            Drug(
                "heparin",
                "anticoagulant",
                "Activates antithrombin",
                "Heparin-induced thrombocytopenia",
                "acute deep venous thrombosis",
            ),
            Drug(
                "clopidogrel",
                "P2Y12 antagonist",
                "Irreversibly blocks platelet ADP receptors",
                "Thrombotic thrombocytopenic purpura",
                "secondary prevention after coronary stenting",
            ),
            Drug(
                "hydroxyurea",
                "ribonucleotide reductase inhibitor",
                "Increases fetal hemoglobin production",
                "Myelosuppression",
                "sickle cell disease with recurrent crises",
            ),
            Drug(
                "imatinib",
                "tyrosine kinase inhibitor",
                "Inhibits the BCR-ABL tyrosine kinase",
                "Fluid retention",
                "chronic myeloid leukemia",
            ),
        ),
        (
            Disease(
                "iron deficiency anemia",
                "microcytic anemia with low ferritin in a menstruating woman",
                "Insufficient iron for heme synthesis",
                "Oral iron supplementation",
            ),
            Disease(
                "hereditary spherocytosis",
                "anemia, splenomegaly and an increased MCHC",
                "Defects in spectrin or ankyrin",
                "Splenectomy",
            ),
            Disease(
                "immune thrombocytopenic purpura",
                "isolated thrombocytopenia with petechiae after a viral illness",
                "Antibodies against GpIIb/IIIa",
                "Corticosteroids",
            ),
            Disease(
                "hemophilia A",
                "hemarthroses and a prolonged PTT in a boy",
                "X-linked factor VIII deficiency",
                "Factor VIII concentrate",
            ),
            Disease(
                "vitamin B12 deficiency",
                "megaloblastic anemia with loss of vibration sense",
                "Impaired myelin synthesis from methylmalonyl-CoA accumulation",
                "Intramuscular cyanocobalamin",
            ),
        ),
    ),
    System(
        "MSK",
        "Musculoskeletal",
        (
            Drug(
                "allopurinol",
                "xanthine oxidase inhibitor",
                "Inhibits xanthine oxidase, lowering uric acid",
                "Stevens-Johnson syndrome",
                "chronic tophaceous gout",
            ),
            Drug(
                "colchicine",
                "antimitotic",
                "Inhibits microtubule polymerization in neutrophils",
                "Diarrhea",
                "acute gout flare",
            ),
            Drug(
                "methotrexate",
                "antimetabolite",
                "Inhibits dihydrofolate reductase",
                "Hepatotoxicity",
                "rheumatoid arthritis",
            ),
            Drug(
                "alendronate",
                "bisphosphonate",
                "Inhibits osteoclast-mediated bone resorption",
                "Pill esophagitis",
                "postmenopausal osteoporosis",
            ),
            Drug(
                "cyclobenzaprine",
                "centrally acting muscle relaxant",
                "Acts at the brainstem to reduce tonic motor activity",
                "Anticholinergic sedation",
                "acute muscle spasm",
            ),
        ),
        (
            Disease(
                "rheumatoid arthritis",
                "symmetric MCP joint swelling and morning stiffness over an hour",
                "Autoimmune synovitis with pannus formation",
                "Methotrexate",
            ),
            Disease(
                "ankylosing spondylitis",
                "inflammatory back pain in a young man and a bamboo spine",
                "HLA-B27-associated enthesitis",
                "NSAIDs, then TNF-α inhibitors",
            ),
            Disease(
                "osteosarcoma",
                "a distal femur mass with a sunburst pattern and Codman triangle",
                "Malignant osteoid-producing tumor",
                "Neoadjuvant chemotherapy and resection",
            ),
            Disease(
                "Duchenne muscular dystrophy",
                "Gowers sign and calf pseudohypertrophy in a young boy",
                "Frameshift deletion in the dystrophin gene",
                "Corticosteroids and supportive care",
            ),
            Disease(
                "polymyalgia rheumatica",
                "proximal shoulder and hip stiffness with a high ESR in an older adult",
                "Inflammation of periarticular structures",
                "Low-dose prednisone",
            ),
        ),
    ),
)

AGES_SEXES = (
    (23, "woman"),
    (31, "man"),
    (45, "woman"),
    (52, "man"),
    (64, "woman"),
    (68, "man"),
    (19, "man"),
    (37, "woman"),
    (58, "woman"),
    (72, "man"),
    (8, "boy"),
    (27, "woman"),
)
